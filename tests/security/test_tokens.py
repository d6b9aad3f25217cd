"""Forged, tampered, expired and misdirected access tokens, refused by every service taking them.

At the unit level, ``verify_token`` itself; then one protected route of each service, in-process
on the real servers with the service's real app: review, accounting, the issuer and the
notifier trust ``LocalKeySet`` (intake's key set, the test's key); intake uses its own key,
made and sealed in its database. Each route first accepts a well-made token (the control), so a
refusal is the token's doing. A valid token of one institution never reaches another's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from joserfc.jwk import KeySet, OKPKey

from microcred_accounting.bootstrap import build_app as accounting_app
from microcred_accounting.settings import AccountingSettings
from microcred_intake.testing import Harness as IntakeHarness
from microcred_issuer.bootstrap import build_app as issuer_app
from microcred_issuer.settings import IssuerSettings
from microcred_review.bootstrap import build_app as review_app
from microcred_review.settings import ReviewSettings
from microcred_shared.auth import InvalidTokenError, verify_token
from microcred_shared.demo import demo_institution, minimal_pdf
from microcred_shared.testing.apps import running, service_env
from microcred_shared.testing.servers import Servers
from microcred_shared.testing.tokens import SIGNING_KEY, LocalKeySet
from services.notifier.tests.conftest import Harness as NotifierHarness
from tests.security.conftest import notifier_running
from tests.security.forgery import attacks, claims_for, signed, valid

# --- verify_token, in memory -----------------------------------------------------------------

KID = "intake-unit"
UNIT_KEY = OKPKey.generate_key("Ed25519", parameters={"kid": KID})
UNIT_KEYS = KeySet([OKPKey.import_key(UNIT_KEY.as_dict(private=False), {"kid": KID})])
ROLES = (("inst-a", "evaluator"),)
UNIT_ATTACKS = attacks(UNIT_KEY, KID, ROLES)


@pytest.mark.unit
def test_a_well_made_token_is_accepted() -> None:
    principal = verify_token(valid(UNIT_KEY, KID, ROLES), UNIT_KEYS)
    assert principal.user_id == "u-attacker"
    assert principal.has_role("inst-a", "evaluator")


@pytest.mark.unit
@pytest.mark.parametrize("attack", UNIT_ATTACKS)
def test_verify_token_refuses(attack: str) -> None:
    with pytest.raises(InvalidTokenError):
        verify_token(UNIT_ATTACKS[attack], UNIT_KEYS)


@pytest.mark.unit
def test_clock_edges_of_expiry_and_issue_time() -> None:
    now = 2_000_000_000
    token = signed(UNIT_KEY, KID, claims_for(ROLES, iat=now, exp=now + 300))
    assert verify_token(token, UNIT_KEYS, now=now + 299).user_id == "u-attacker"
    with pytest.raises(InvalidTokenError, match="expired"):
        verify_token(token, UNIT_KEYS, now=now + 300)  # exp is exclusive
    # Up to a minute of clock skew between intake and the verifier is tolerated, no more.
    assert verify_token(token, UNIT_KEYS, now=now - 60).user_id == "u-attacker"
    with pytest.raises(InvalidTokenError, match="future"):
        verify_token(token, UNIT_KEYS, now=now - 61)


@pytest.mark.unit
def test_a_token_is_refused_by_a_key_set_without_its_key() -> None:
    stranger = KeySet([OKPKey.import_key(OKPKey.generate_key("Ed25519").as_dict(private=False))])
    with pytest.raises(InvalidTokenError):
        verify_token(valid(UNIT_KEY, KID, ROLES), stranger)


# --- each service's protected routes ------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """A protected route of a service, the role it wants, and a body if it takes one."""

    method: str
    path: str  # with {institution}
    roles: tuple[str, ...]  # "platform_admin" for platform administrators
    body: dict[str, Any] | None = None

    def request(self, http: httpx.AsyncClient, institution: str, token: str | None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return http.request(
            self.method, self.path.format(institution=institution), json=self.body, headers=headers
        )

    def claims(self, institution: str) -> dict[str, Any]:
        roles = tuple((institution, r) for r in self.roles if r != "platform_admin")
        return {"roles": roles, "platform_admin": "platform_admin" in self.roles}


ROUTES = {
    "review": Route("GET", "/institutions/{institution}/decision-times", ("evaluator",)),
    "accounting": Route("GET", "/institutions/{institution}/report", ("evaluator",)),
    "issuer": Route(
        "PUT",
        "/institutions/{institution}",
        ("platform_admin",),
        {"name": "Instituto", "country": "PT", "competences": ["c-1"]},
    ),
    "notifier": Route("GET", "/institutions/{institution}/claim-settings", ("institution_admin",)),
}


@pytest.fixture(scope="module")
async def service_clients(
    servers: Servers, topics_ready: None
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """Review, accounting, the issuer and the notifier, each its real app on the real servers."""
    async with AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for name, build, settings in (
            ("review", review_app, ReviewSettings),
            ("accounting", accounting_app, AccountingSettings),
            ("issuer", issuer_app, IssuerSettings),
        ):
            app = build(settings(**service_env(servers, name)))  # type: ignore[arg-type]
            app.state.keys = LocalKeySet()  # intake's key set, without intake
            clients[name] = await stack.enter_async_context(running(app))
        clients["notifier"] = (await stack.enter_async_context(notifier_running(servers))).http
        yield clients


def local_valid(roles: tuple[tuple[str, str], ...], **claims: Any) -> str:
    return valid(SIGNING_KEY, str(SIGNING_KEY.kid), roles, **claims)


@pytest.mark.integration
@pytest.mark.parametrize("service", ROUTES)
async def test_each_service_refuses_bad_tokens(
    service: str, service_clients: dict[str, httpx.AsyncClient]
) -> None:
    http, route = service_clients[service], ROUTES[service]
    institution = f"inst-{uuid.uuid4().hex[:8]}"
    claims = route.claims(institution)

    accepted = await route.request(http, institution, local_valid(**claims))
    assert accepted.status_code == 200, accepted.text

    kid = str(SIGNING_KEY.kid)
    answers = {
        name: await route.request(http, institution, token)
        for name, token in attacks(SIGNING_KEY, kid, **claims).items()
    }
    answers["no token"] = await route.request(http, institution, None)
    assert {n: a.status_code for n, a in answers.items()} == dict.fromkeys(answers, 401)
    for answer in answers.values():
        assert answer.headers["content-type"] == "application/problem+json"
        assert institution not in answer.text


@pytest.mark.integration
async def test_a_token_of_one_institution_reaches_nothing_of_another(
    service_clients: dict[str, httpx.AsyncClient],
) -> None:
    a, b = (f"inst-{uuid.uuid4().hex[:8]}" for _ in "ab")
    admin = {"Authorization": "Bearer " + local_valid((), platform_admin=True)}
    secret_terms = f"Terms of {b}, for its learners only: {uuid.uuid4().hex}"

    def of(institution: str, role: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": "Bearer " + local_valid(((institution, role),), **claims)}

    # B's own data, made by its own staff.
    notifier, issuer = service_clients["notifier"], service_clients["issuer"]
    made = await notifier.put(
        f"/institutions/{b}/claim-settings",
        json={"privacy_terms": {"version": "b-1", "text": secret_terms}},
        headers=of(b, "institution_admin"),
    )
    assert made.status_code == 200, made.text
    registered = await issuer.put(
        f"/institutions/{b}", json={"name": "B", "country": "PT"}, headers=admin
    )
    assert registered.status_code == 200, registered.text

    answers = {
        "review queue": await service_clients["review"].get(
            f"/institutions/{b}/queue", headers=of(a, "institution_admin")
        ),
        "review decision times": await service_clients["review"].get(
            f"/institutions/{b}/decision-times", headers=of(a, "evaluator")
        ),
        "accounting report": await service_clients["accounting"].get(
            f"/institutions/{b}/report", headers=of(a, "institution_admin")
        ),
        "accounting progress of B's learner, as A's learner of the same id": await service_clients[
            "accounting"
        ].get(
            f"/institutions/{b}/learners/u-shared/progress",
            headers=of(a, "learner", user_id="u-shared"),
        ),
        "issuer registration": await issuer.put(
            f"/institutions/{b}",
            json={"name": "Taken over", "country": "PT", "competences": ["c-9"]},
            headers=of(a, "institution_admin"),
        ),
        "issuer suspension": await issuer.put(
            f"/institutions/{b}/credentials/urn:uuid:{uuid.uuid4()}/suspension",
            headers=of(a, "institution_admin"),
        ),
        "notifier claim settings": await notifier.get(
            f"/institutions/{b}/claim-settings", headers=of(a, "institution_admin")
        ),
        "notifier deliveries": await notifier.get(
            f"/institutions/{b}/deliveries", headers=of(a, "institution_admin")
        ),
    }
    assert {n: a.status_code for n, a in answers.items()} == dict.fromkeys(answers, 403)
    assert all(secret_terms not in a.text for a in answers.values())
    shown = await issuer.get(f"/institutions/{b}")
    assert shown.json()["name"] == "B"  # not taken over
    assert "c-9" not in shown.text


@pytest.mark.integration
async def test_the_wallet_opens_no_session_for_a_bad_token(notifier: NotifierHarness) -> None:
    """The notifier's wallet sign-in takes intake's token in a form: the same checks apply."""
    harness = notifier
    kid = str(SIGNING_KEY.kid)
    tokens = {"valid": local_valid(())} | attacks(SIGNING_KEY, kid, ())
    outcomes = {}
    for name, token in tokens.items():
        async with harness.browser() as browser:
            started = await browser.get("/wallet/sign-in", params={"next": "/wallet"})
            state = httpx.URL(started.headers["location"]).params["state"]
            answer = await browser.post(
                "/wallet/session", data={"token": token, "state": state, "next": "/wallet"}
            )
            outcomes[name] = (answer.status_code, "microcred_wallet" in browser.cookies)
    assert outcomes.pop("valid") == (303, True)
    assert outcomes == dict.fromkeys(outcomes, (400, False))


# --- intake's own API, with intake's own key ------------------------------------------------------


@pytest.mark.integration
async def test_intake_refuses_bad_tokens_and_keeps_institutions_apart(
    intake: IntakeHarness,
) -> None:
    # B: another institution, its learner's evidence.
    b = f"inst-{uuid.uuid4().hex[:10]}"
    await intake.client.onboard(demo_institution(b))
    learner_b = await intake.new_learner(b)
    title = f"B's private evidence {uuid.uuid4().hex}"
    record = await intake.client.upload(
        b, learner_b, "digcomp-3-1", title, "30", ("c.pdf", minimal_pdf("b"), "application/pdf")
    )
    evaluator_a = await intake.client.evaluator(
        intake.institution_id, f"eva.{uuid.uuid4().hex[:8]}@example.org", "a-long-password-1"
    )

    kid, key = await intake.app.state.accounts.keys.active()
    route = f"/institutions/{intake.institution_id}/evidence"
    roles = ((intake.institution_id, "learner"),)
    accepted = await intake.http.get(
        route, headers={"Authorization": "Bearer " + valid(key, kid, roles)}
    )
    assert accepted.status_code == 200, accepted.text
    answers = {
        name: await intake.http.get(route, headers={"Authorization": f"Bearer {token}"})
        for name, token in attacks(key, kid, roles).items()
    }
    assert {n: a.status_code for n, a in answers.items()} == dict.fromkeys(answers, 401)

    evidence_b = f"/institutions/{b}/evidence/{record['id']}"
    foreign = {
        f"{who} {what}": await intake.http.get(path, headers=account.auth)
        for who, account in (("A's learner", intake.learner), ("A's evaluator", evaluator_a))
        for what, path in (("evidence", evidence_b), ("file", f"{evidence_b}/files/0"))
    }
    foreign["A's learner, B's list"] = await intake.http.get(
        f"/institutions/{b}/evidence", headers=intake.learner.auth
    )
    listing = foreign.pop("A's learner, B's list")
    assert listing.status_code == 200
    assert listing.json() == []  # only one's own evidence, at any institution
    assert {n: a.status_code for n, a in foreign.items()} == dict.fromkeys(foreign, 404)
    assert all(title not in a.text for a in foreign.values())
    own = await intake.http.get(evidence_b, headers=learner_b.auth)
    assert own.json()["title"] == title  # the control: B's learner sees it
