"""The authorization matrix: every operation of every service, by every kind of caller (issue #8).

Each service's real app runs in-process on the session's real servers. Every operation of its
OpenAPI document is called by each caller:

- anonymous (no token);
- a learner of institution A (``learner``), who owns A's seeded data, and another learner of A
  (``peer``);
- an evaluator and an institution administrator of A;
- an institution administrator of institution B (``admin-b``): the other tenant;
- a platform administrator, who holds every role at every institution (``Principal.has_role``)
  but no learner membership.

Institution-scoped paths are called with A's id; other path parameters get A's seeded objects
where a rule depends on who owns them (the learner's evidence, their id, their claim), and a
plausible made-up value otherwise (an answer such as 404 after authorization counts as "allowed
past authorization", unless the rule refuses with 404 itself).

The designed rule of each operation is written out below (``INTAKE``, ``REVIEW``,
``ACCOUNTING``, ``ISSUER``, ``NOTIFIER``), read from each route's code and docstring. An
operation that appears in a service's OpenAPI document without a row here fails the test, as
does a row whose operation is gone: a new endpoint must state who may call it.

What the design answers (asserted exactly):

- anonymous callers of a protected operation: 401;
- a signed-in caller without the role, or of the other institution: 403 — except where the
  design hides whether the object exists (404): a learner's evidence (intake) and a claim
  (notifier's resend) are "unknown" to anyone but their owner and the institution's staff;
- an allowed caller: neither 401 nor 403, no server error, and no 404 where the rule itself
  refuses with 404;
- the seeded data of institution A (a marker in the learner's evidence title) never appears in
  an answer to a caller who may not see it, refused or allowed (e.g. ``GET
  /institutions/{A}/evidence`` lists the caller's own evidence only).

Bodies are minimal but valid: FastAPI validates a body before the route's own role check, so an
invalid body would be a 422 that says nothing about authorization. (Authentication, a
dependency, comes first: an anonymous caller gets 401 whatever the body.)

Intake signs its own tokens: its callers get tokens it mints (``Accounts.token_for``), the
learners' for their real accounts. The other services trust ``LocalKeySet`` (intake's key set,
the test's key).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from microcred_accounting.bootstrap import build_app as accounting_app
from microcred_accounting.settings import AccountingSettings
from microcred_intake.accounts import Accounts
from microcred_intake.catalogues import available
from microcred_intake.testing import harness
from microcred_issuer.bootstrap import build_app as issuer_app
from microcred_issuer.handlers import Issuer
from microcred_issuer.settings import IssuerSettings
from microcred_review.bootstrap import build_app as review_app
from microcred_review.settings import ReviewSettings
from microcred_shared.auth import Membership, Principal, Role
from microcred_shared.demo import demo_institution, minimal_pdf
from microcred_shared.testing.apps import running, service_env
from microcred_shared.testing.servers import Servers
from microcred_shared.testing.tokens import LocalKeySet, access_token
from services.notifier.tests.conftest import Learner, start

pytestmark = pytest.mark.integration

# --- callers ------------------------------------------------------------------------------------

ANON = "anonymous"
LEARNER = "learner"  # a learner of A; A's seeded data is theirs
PEER = "peer"  # another learner of A
EVALUATOR = "evaluator"  # an evaluator of A
ADMIN = "admin"  # an institution administrator of A
ADMIN_B = "admin-b"  # an institution administrator of B, the other tenant
PLATFORM = "platform-admin"
CALLERS = (ANON, LEARNER, PEER, EVALUATOR, ADMIN, ADMIN_B, PLATFORM)
SIGNED_IN = frozenset(CALLERS) - {ANON}

#: Each caller's memberships, by institution: "A" or "B" (the test's institution ids).
MEMBERSHIPS: dict[str, tuple[tuple[str, Role], ...]] = {
    LEARNER: (("A", "learner"),),
    PEER: (("A", "learner"),),
    EVALUATOR: (("A", "evaluator"),),
    ADMIN: (("A", "institution_admin"),),
    ADMIN_B: (("B", "institution_admin"),),
    PLATFORM: (),
}
USER_IDS = {caller: f"u-{caller}-{uuid.uuid4().hex[:8]}" for caller in SIGNED_IN}

# --- the designed rules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Who may call an operation, and how the others are refused."""

    name: str
    allowed: frozenset[str]
    #: The status refusing a signed-in caller (anonymous callers get 401).
    refusal: int = 403
    #: Callers refused with a status of their own.
    overrides: Mapping[str, int] = field(default_factory=dict)
    #: Callers who may see A's seeded data in an answer (default: those allowed).
    sees: frozenset[str] | None = None

    def expected(self, caller: str) -> int | None:
        """The refusal ``caller`` gets, or None when allowed."""
        if caller in self.allowed:
            return None
        if caller == ANON:
            return 401
        return self.overrides.get(caller, self.refusal)

    def may_see(self, caller: str) -> bool:
        return caller in (self.allowed if self.sees is None else self.sees)

    @property
    def refuses_with_404(self) -> bool:
        return self.refusal == 404 or 404 in self.overrides.values()


PUBLIC = Rule("public", frozenset(CALLERS))
#: Any signed-in user; what is answered is the caller's own (their evidence, their dashboard).
OWN_RECORDS = Rule("any signed-in user, own records only", SIGNED_IN, sees=frozenset({LEARNER}))
MEMBER = Rule(
    "anyone with a role at the institution", frozenset({LEARNER, PEER, EVALUATOR, ADMIN, PLATFORM})
)
STAFF = Rule(
    "evaluators or administrators of the institution", frozenset({EVALUATOR, ADMIN, PLATFORM})
)
INSTITUTION_ADMIN = Rule("administrators of the institution", frozenset({ADMIN, PLATFORM}))
PLATFORM_ADMIN = Rule("platform administrators", frozenset({PLATFORM}))
#: Only a learner membership submits evidence: administrators (platform ones too) hold every
#: other role, and must not submit evidence and then approve it.
LEARNERS = Rule("learners of the institution (not its staff)", frozenset({LEARNER, PEER}))
#: Someone else's evidence is as unknown as evidence that does not exist.
EVIDENCE_READER = Rule(
    "the evidence's owner, or the institution's evaluators and administrators",
    frozenset({LEARNER, EVALUATOR, ADMIN, PLATFORM}),
    refusal=404,
)
EVIDENCE_OWNER = Rule("the evidence's owner", frozenset({LEARNER}), refusal=404)
#: Staff are no learners (403); another learner passes that check and finds no such evidence.
EVIDENCE_OWNER_LEARNER = Rule(
    "the evidence's owner, as a learner of the institution",
    frozenset({LEARNER}),
    overrides={PEER: 404},
)
LEARNER_SELF_OR_STAFF = Rule(
    "the learner themself, or the institution's evaluators and administrators",
    frozenset({LEARNER, EVALUATOR, ADMIN, PLATFORM}),
)
#: A claim is "unknown" to anyone else.
CLAIM_OWNER_OR_ADMIN = Rule(
    "the credential's learner, or the institution's administrators",
    frozenset({LEARNER, ADMIN, PLATFORM}),
    refusal=404,
)

Operation = tuple[str, str]

INTAKE: dict[Operation, Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/asyncapi.json"): PUBLIC,
    # Operational counts only, no one's data; a deployment keeps it off its public proxy.
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/.well-known/jwks.json"): PUBLIC,
    ("POST", "/auth/register"): PUBLIC,
    ("POST", "/auth/verify"): PUBLIC,
    ("POST", "/auth/token"): PUBLIC,
    ("POST", "/auth/login"): PUBLIC,
    ("POST", "/auth/logout"): OWN_RECORDS,
    ("POST", "/auth/password-reset"): PUBLIC,
    ("POST", "/auth/password-reset/confirm"): PUBLIC,
    ("GET", "/auth/me"): OWN_RECORDS,
    ("POST", "/institutions/{institution_id}/members"): INSTITUTION_ADMIN,
    ("GET", "/institutions"): PUBLIC,
    ("POST", "/institutions"): PLATFORM_ADMIN,
    ("GET", "/institutions/{institution_id}"): PUBLIC,
    ("GET", "/catalogues"): PUBLIC,
    ("POST", "/institutions/{institution_id}/catalogue/import/{name}"): INSTITUTION_ADMIN,
    ("POST", "/institutions/{institution_id}/evidence"): LEARNERS,
    ("GET", "/institutions/{institution_id}/evidence"): OWN_RECORDS,
    ("GET", "/institutions/{institution_id}/evidence/{evidence_id}"): EVIDENCE_READER,
    ("GET", "/institutions/{institution_id}/evidence/{evidence_id}/files/{index}"): EVIDENCE_READER,
    ("POST", "/institutions/{institution_id}/evidence/{evidence_id}/withdraw"): EVIDENCE_OWNER,
    ("POST", "/institutions/{institution_id}/evidence/{evidence_id}/resubmit"): (
        EVIDENCE_OWNER_LEARNER
    ),
    ("GET", "/institutions/{institution_id}/dashboard"): OWN_RECORDS,
}

REVIEW: dict[Operation, Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/asyncapi.json"): PUBLIC,
    # Operational counts only, no one's data; a deployment keeps it off its public proxy.
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/institutions/{institution_id}/queue"): STAFF,
    ("GET", "/institutions/{institution_id}/queue/{evidence_id}"): STAFF,
    ("POST", "/institutions/{institution_id}/queue/{evidence_id}/claim"): STAFF,
    ("POST", "/institutions/{institution_id}/queue/{evidence_id}/release"): STAFF,
    ("POST", "/institutions/{institution_id}/queue/{evidence_id}/decision"): STAFF,
    ("POST", "/institutions/{institution_id}/queue/{evidence_id}/reversal"): INSTITUTION_ADMIN,
    ("GET", "/institutions/{institution_id}/decision-times"): STAFF,
    ("GET", "/institutions/{institution_id}/review-settings"): STAFF,
    ("PUT", "/institutions/{institution_id}/review-settings"): INSTITUTION_ADMIN,
}

ACCOUNTING: dict[Operation, Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/asyncapi.json"): PUBLIC,
    # Operational counts only, no one's data; a deployment keeps it off its public proxy.
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/institutions/{institution_id}/learners/{learner_id}/progress"): (
        LEARNER_SELF_OR_STAFF
    ),
    ("GET", "/institutions/{institution_id}/report"): STAFF,
    ("GET", "/institutions/{institution_id}/report.csv"): STAFF,
    ("PUT", "/institutions/{institution_id}/pathways/{pathway_id}"): INSTITUTION_ADMIN,
    ("GET", "/institutions/{institution_id}/pathways/{pathway_id}"): MEMBER,
    ("GET", "/institutions/{institution_id}/pathways"): MEMBER,
    # Only A's administrators let A's awards count toward another's (B's) pathways.
    ("PUT", "/institutions/{institution_id}/award-sharing/{awarding_id}"): INSTITUTION_ADMIN,
    ("DELETE", "/institutions/{institution_id}/award-sharing/{awarding_id}"): INSTITUTION_ADMIN,
    ("GET", "/institutions/{institution_id}/award-sharing"): STAFF,
}

ISSUER: dict[Operation, Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/asyncapi.json"): PUBLIC,
    # Operational counts only, no one's data; a deployment keeps it off its public proxy.
    ("GET", "/metrics"): PUBLIC,
    # What verifiers need: DID documents, keys, status lists, credentials by their
    # (unguessable) ids, their renderings and verification.
    ("GET", "/institutions/{institution_id}/did.json"): PUBLIC,
    ("GET", "/institutions/{institution_id}/jwks.json"): PUBLIC,
    ("GET", "/credentials/{credential_id}"): PUBLIC,
    ("GET", "/credentials/{credential_id}/status"): PUBLIC,
    ("GET", "/institutions/{institution_id}/status/{purpose}"): PUBLIC,
    ("GET", "/institutions/{institution_id}/status/{purpose}/{list_number}"): PUBLIC,
    ("PUT", "/institutions/{institution_id}/credentials/{credential_id}/suspension"): (
        INSTITUTION_ADMIN
    ),
    ("DELETE", "/institutions/{institution_id}/credentials/{credential_id}/suspension"): (
        INSTITUTION_ADMIN
    ),
    ("GET", "/institutions/{institution_id}/keys"): PUBLIC,
    ("POST", "/institutions/{institution_id}/keys/rotate"): INSTITUTION_ADMIN,
    # Platform administrators register; a registered institution's own administrators may add
    # competences (A is registered here), under the name and country registered (checked after
    # the matrix).
    ("PUT", "/institutions/{institution_id}"): INSTITUTION_ADMIN,
    ("GET", "/institutions/{institution_id}"): PUBLIC,
    # Signing for the institution the credential's ``issuer`` names (A): its admins only.
    ("POST", "/credentials/issue"): INSTITUTION_ADMIN,
    ("POST", "/credentials/verify"): PUBLIC,
    ("POST", "/presentations/verify"): PUBLIC,
    ("GET", "/credentials/{credential_id}/badge.svg"): PUBLIC,
    ("GET", "/credentials/{credential_id}/badge-jwt.svg"): PUBLIC,
    ("GET", "/credentials/{credential_id}/certificate.pdf"): PUBLIC,
    ("POST", "/verify"): PUBLIC,
    ("GET", "/credentials/{credential_id}/verify"): PUBLIC,
}

NOTIFIER: dict[Operation, Rule] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/asyncapi.json"): PUBLIC,
    # Operational counts only, no one's data; a deployment keeps it off its public proxy.
    ("GET", "/metrics"): PUBLIC,
    ("PUT", "/institutions/{institution_id}/claim-settings"): INSTITUTION_ADMIN,
    ("GET", "/institutions/{institution_id}/claim-settings"): INSTITUTION_ADMIN,
    ("GET", "/institutions/{institution_id}/deliveries"): INSTITUTION_ADMIN,
    ("POST", "/claims/{credential_ref}/resend"): CLAIM_OWNER_OR_ADMIN,
}

# --- running the matrix ---------------------------------------------------------------------------

METHODS = {"get", "put", "post", "delete", "patch"}
PARAMETER = re.compile(r"\{([^}]+)\}")
PASSWORD = "a-long-password-1"

#: httpx keyword arguments for an operation's request (a fresh body per call).
Body = Callable[[], dict[str, Any]]


@dataclass
class Matrix:
    """One service's app, its rules, and what a call to it needs."""

    service: str
    app: FastAPI
    http: httpx.AsyncClient
    rules: dict[Operation, Rule]
    tokens: dict[str, str]
    params: dict[str, str]
    bodies: dict[Operation, Body] = field(default_factory=dict)
    #: A string only A's seeded data holds, and the operations whose allowed answers show it.
    marker: str | None = None
    shows_marker: frozenset[Operation] = frozenset()

    def operations(self) -> list[Operation]:
        paths: dict[str, dict[str, Any]] = self.app.openapi()["paths"]
        return [(m.upper(), p) for p, item in paths.items() for m in item if m in METHODS]

    async def call(self, operation: Operation, caller: str) -> httpx.Response:
        method, path = operation
        url = PARAMETER.sub(lambda m: self.params[m[1]], path)
        headers = {} if caller == ANON else {"Authorization": f"Bearer {self.tokens[caller]}"}
        body = self.bodies.get(operation)
        try:
            return await self.http.request(method, url, headers=headers, **(body() if body else {}))
        finally:
            # A login sets a session cookie: the next caller must not carry it.
            self.http.cookies.clear()

    def verdict(self, operation: Operation, caller: str, response: httpx.Response) -> str | None:
        rule = self.rules[operation]
        status, text = response.status_code, response.text
        expected = rule.expected(caller)
        shown = self.marker is not None and self.marker in text
        if expected is None:
            if status in {401, 403} or status >= 500 or (status == 404 and rule.refuses_with_404):
                return f"allowed ({rule.name}), answered {status}: {text[:300]}"
            if operation in self.shows_marker and rule.may_see(caller) and not shown:
                return f"allowed ({rule.name}), but the answer lacks A's data: {text[:300]}"
        elif status != expected:
            return (
                f"refused ({rule.name}) with {expected} by design, answered {status}: {text[:300]}"
            )
        if shown and not rule.may_see(caller):
            return f"answered {status} with A's data, which it may not see ({rule.name})"
        return None

    async def check(self) -> int:
        """Call every operation as every caller; the number of cases checked."""
        operations = self.operations()
        missing = sorted(set(operations) - set(self.rules))
        assert not missing, f"{self.service}: operations without a designed rule: {missing}"
        gone = sorted(set(self.rules) - set(operations))
        assert not gone, f"{self.service}: rules of operations that no longer exist: {gone}"
        assert set(self.bodies) <= set(operations), set(self.bodies) - set(operations)
        failures = []
        for operation in operations:
            unknown = set(PARAMETER.findall(operation[1])) - set(self.params)
            assert not unknown, f"{operation}: no value for the path parameters {unknown}"
            for caller in CALLERS:
                problem = self.verdict(operation, caller, await self.call(operation, caller))
                if problem is not None:
                    failures.append(f"{operation[0]} {operation[1]} as {caller}: {problem}")
        assert not failures, f"{self.service}:\n" + "\n".join(failures)
        return len(operations) * len(CALLERS)


def principal(caller: str, ids: Mapping[str, str], user_id: str, email: str) -> Principal:
    return Principal(
        user_id=user_id,
        email=email,
        name=caller,
        memberships=tuple(
            Membership(institution=ids[i], role=role) for i, role in MEMBERSHIPS[caller]
        ),
        platform_admin=caller == PLATFORM,
    )


def local_tokens(ids: Mapping[str, str], user_ids: Mapping[str, str] = USER_IDS) -> dict[str, str]:
    """Tokens signed by the test's key (``LocalKeySet``), for the services trusting it."""
    return {
        caller: access_token(
            *((ids[i], role) for i, role in MEMBERSHIPS[caller]),
            user_id=user_ids[caller],
            name=caller,
            email=f"{caller}@example.org",
            platform_admin=caller == PLATFORM,
            lifetime_seconds=900,
        )
        for caller in SIGNED_IN
    }


def new_ids() -> dict[str, str]:
    return {"A": f"inst-a-{uuid.uuid4().hex[:8]}", "B": f"inst-b-{uuid.uuid4().hex[:8]}"}


def as_json(document: Any) -> Body:
    return lambda: {"json": document}


# --- the services ---------------------------------------------------------------------------------


def evidence_form(title: str) -> Body:
    """A valid multipart upload, a PDF of its own each time (a learner's file counts once)."""

    def body() -> dict[str, Any]:
        pdf = minimal_pdf(f"evidence {uuid.uuid4().hex}")
        return {
            "data": {
                "competence_id": "digcomp-3-1",
                "title": title,
                "hours": "10",
                "start_date": "2026-01-10",
                "end_date": "2026-02-10",
                "provider": "Open Learning Hub",
                "kind": "course",
            },
            "files": [("files", ("certificate.pdf", pdf, "application/pdf"))],
        }

    return body


async def test_intake_authorization_matrix(servers: Servers, topics_ready: None) -> None:
    async with harness(servers, max_file_bytes=64 * 1024) as intake:
        a = intake.institution_id
        b = f"inst-b-{uuid.uuid4().hex[:8]}"
        await intake.client.onboard(demo_institution(b))
        learner = intake.learner
        peer = await intake.new_learner()
        marker = f"Marker {uuid.uuid4().hex}"
        evidence = await intake.client.upload(
            a,
            learner,
            "digcomp-3-1",
            marker,
            "30",
            ("c.pdf", minimal_pdf(marker), "application/pdf"),
        )
        accounts: Accounts = intake.app.state.accounts
        ids = {"A": a, "B": b}
        users = {LEARNER: (learner.user_id, learner.email), PEER: (peer.user_id, peer.email)}
        tokens = {
            caller: await accounts.token_for(
                principal(caller, ids, *users.get(caller, (USER_IDS[caller], f"{caller}@x.org"))),
                900,
            )
            for caller in SIGNED_IN
        }

        def fresh_email() -> str:
            return f"someone.{uuid.uuid4().hex[:8]}@example.org"

        credentials = {"email": learner.email, "password": PASSWORD}
        matrix = Matrix(
            "intake",
            intake.app,
            intake.http,
            INTAKE,
            tokens,
            params={
                "institution_id": a,
                "evidence_id": evidence["id"],
                "index": "0",
                "name": available()[0],
            },
            bodies={
                ("POST", "/auth/register"): lambda: {
                    "json": {
                        "email": fresh_email(),
                        "password": PASSWORD,
                        "name": "Someone",
                        "institution_id": a,
                    }
                },
                ("POST", "/auth/verify"): as_json({"token": "not-a-token-" + "x" * 20}),
                ("POST", "/auth/token"): as_json(credentials),
                ("POST", "/auth/login"): as_json(credentials),
                ("POST", "/auth/password-reset"): lambda: {"json": {"email": fresh_email()}},
                ("POST", "/auth/password-reset/confirm"): as_json(
                    {"token": "not-a-token-" + "x" * 20, "password": "another-long-password-2"}
                ),
                ("POST", "/institutions/{institution_id}/members"): as_json(
                    {"email": peer.email, "role": "learner"}
                ),
                ("POST", "/institutions"): lambda: {
                    "json": demo_institution(f"inst-new-{uuid.uuid4().hex[:8]}")
                },
                ("POST", "/institutions/{institution_id}/evidence"): evidence_form("More"),
                ("POST", "/institutions/{institution_id}/evidence/{evidence_id}/resubmit"): (
                    evidence_form("Corrected")
                ),
            },
            marker=marker,
            shows_marker=frozenset(
                {
                    ("GET", "/institutions/{institution_id}/evidence"),
                    ("GET", "/institutions/{institution_id}/evidence/{evidence_id}"),
                }
            ),
        )
        assert await matrix.check() == len(INTAKE) * len(CALLERS)
        # B's administrator holds every role at B: asking for A's evidence under B's path
        # finds nothing either (the records are scoped by institution, not only the path).
        under_b = f"/institutions/{b}/evidence/{evidence['id']}"
        admin_b = {"Authorization": f"Bearer {tokens[ADMIN_B]}"}
        for path in (under_b, f"{under_b}/files/0"):
            answer = await intake.http.get(path, headers=admin_b)
            assert answer.status_code == 404, (path, answer.status_code, answer.text)
            assert marker not in answer.text


async def test_review_authorization_matrix(servers: Servers, topics_ready: None) -> None:
    app = review_app(ReviewSettings(**service_env(servers, "review")))  # type: ignore[arg-type]
    app.state.keys = LocalKeySet()
    ids = new_ids()
    async with running(app) as http:
        matrix = Matrix(
            "review",
            app,
            http,
            REVIEW,
            local_tokens(ids),
            params={"institution_id": ids["A"], "evidence_id": "ev-made-up"},
            bodies={
                ("POST", "/institutions/{institution_id}/queue/{evidence_id}/decision"): as_json(
                    {"decision": "approve"}
                ),
                ("POST", "/institutions/{institution_id}/queue/{evidence_id}/reversal"): as_json(
                    {"reason": "misconduct found"}
                ),
                ("PUT", "/institutions/{institution_id}/review-settings"): as_json(
                    {"mode": "builtin", "second_approval_above_hours": None}
                ),
            },
        )
        assert await matrix.check() == len(REVIEW) * len(CALLERS)


async def test_accounting_authorization_matrix(servers: Servers, topics_ready: None) -> None:
    app = accounting_app(
        AccountingSettings(**service_env(servers, "accounting"))  # type: ignore[arg-type]
    )
    app.state.keys = LocalKeySet()
    ids = new_ids()
    async with running(app) as http:
        matrix = Matrix(
            "accounting",
            app,
            http,
            ACCOUNTING,
            local_tokens(ids),
            params={
                "institution_id": ids["A"],
                "learner_id": USER_IDS[LEARNER],
                "pathway_id": "pathway-made-up",
                "awarding_id": ids["B"],
            },
            bodies={
                ("PUT", "/institutions/{institution_id}/pathways/{pathway_id}"): as_json(
                    {
                        "title": "Digital content pathway",
                        "rule": "all_of",
                        "components": [{"institution_id": ids["A"], "competence_id": "c-1"}],
                    }
                ),
            },
        )
        assert await matrix.check() == len(ACCOUNTING) * len(CALLERS)


async def test_issuer_authorization_matrix(servers: Servers, topics_ready: None) -> None:
    app = issuer_app(IssuerSettings(**service_env(servers, "issuer")))  # type: ignore[arg-type]
    app.state.keys = LocalKeySet()
    ids = new_ids()
    async with running(app) as http:
        issuer: Issuer = app.state.issuer
        for institution in ids.values():
            await issuer.register(institution, name="Instituto", country="PT", competences=["c-1"])

        def credential() -> dict[str, Any]:
            return {
                "json": {
                    "credential": {
                        "@context": [
                            "https://www.w3.org/ns/credentials/v2",
                            "https://www.w3.org/ns/credentials/examples/v2",
                        ],
                        "id": f"urn:uuid:{uuid.uuid4()}",
                        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
                        "issuer": issuer.did(ids["A"]),
                        "validFrom": "2026-01-01T00:00:00Z",
                        "credentialSubject": {"id": "did:example:alumna", "alumniOf": "A"},
                    },
                    "options": {},
                }
            }

        matrix = Matrix(
            "issuer",
            app,
            http,
            ISSUER,
            local_tokens(ids),
            params={
                "institution_id": ids["A"],
                "credential_id": f"urn:uuid:{uuid.uuid4()}",
                "purpose": "revocation",
                "list_number": "1",
            },
            bodies={
                ("PUT", "/institutions/{institution_id}"): as_json(
                    {"name": "Instituto", "country": "PT", "competences": ["c-2"]}
                ),
                ("POST", "/credentials/issue"): credential,
                ("POST", "/credentials/verify"): as_json({"verifiableCredential": {}}),
                ("POST", "/presentations/verify"): as_json({"verifiablePresentation": {}}),
                ("POST", "/verify"): as_json({"not": "a credential"}),
            },
        )
        assert await matrix.check() == len(ISSUER) * len(CALLERS)
        # A's own administrators add competences, under the name and country the platform
        # registered; renaming the issuer every credential names is the platform's.
        path = f"/institutions/{ids['A']}"
        admin = {"Authorization": f"Bearer {matrix.tokens[ADMIN]}"}
        for renamed in ({"name": "Harvard University"}, {"country": "US"}):
            body = {"name": "Instituto", "country": "PT", "competences": ["c-3"], **renamed}
            answer = await http.put(path, json=body, headers=admin)
            assert answer.status_code == 403, (renamed, answer.text)
        registered = (await http.get(path)).json()
        assert (registered["name"], registered["country"]) == ("Instituto", "PT")
        assert "c-3" not in registered["competences"]
        platform = {"Authorization": f"Bearer {matrix.tokens[PLATFORM]}"}
        body = {"name": "Instituto (renamed)", "country": "PT", "competences": []}
        assert (await http.put(path, json=body, headers=platform)).status_code == 200


async def test_notifier_authorization_matrix(servers: Servers, topics_ready: None) -> None:
    ids = new_ids()
    async for notifier in start(servers):
        # A claim of A's learner: the reference its resend is asked by.
        learner = Learner(USER_IDS[LEARNER], "Ada", f"ada.{uuid.uuid4().hex[:8]}@example.org")
        event = await notifier.issue(learner, ids["A"])
        claim = await notifier.notifier.claims.find_one(
            {"learner_id": learner.learner_id}, {"reference": 1}
        )
        assert claim is not None, event
        matrix = Matrix(
            "notifier",
            notifier.app,
            notifier.http,
            NOTIFIER,
            local_tokens(ids),
            params={"institution_id": ids["A"], "credential_ref": claim["reference"]},
            bodies={
                ("PUT", "/institutions/{institution_id}/claim-settings"): as_json(
                    {"claim_valid_days": 30, "second_check": "none"}
                ),
            },
        )
        assert await matrix.check() == len(NOTIFIER) * len(CALLERS)
