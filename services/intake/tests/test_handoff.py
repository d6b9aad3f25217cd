"""The sign-in handoff to the learner's wallet (the notifier), and the dashboard's wallet links.

In memory: which ``next`` paths count as this site's, the wallet's name of a credential, the
notifier's URL setting. On the real stack (intake alone): a browser that is not logged in goes
through the login page and back; a logged-in one gets a page whose form carries a two-minute
token of the logged-in user to the notifier; a bad parameter gets a 400 page and no token.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc.jwk import KeySet
from pydantic import ValidationError

from microcred_intake.handlers import Intake
from microcred_intake.pages import MAX_LOGIN_NEXT, MAX_NEXT, local_path, wallet_reference
from microcred_intake.settings import IntakeSettings
from microcred_intake.testing import Harness, harness
from microcred_shared.auth import verify_token
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.events import CredentialIssuedV1
from microcred_shared.testing.servers import Servers

NOTIFIER = "https://wallet.example.org"
STATE = "s7aTe-of_the-notifier-0123456789"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "a-long-password-1"


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def hidden(page: httpx.Response, name: str) -> str | None:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', page.text)
    return unescape(found.group(1)) if found else None


def handoff_url(**changes: str | None) -> str:
    params = {"to": "notifier", "state": STATE, "next": "/wallet/credentials/abc"} | changes
    return "/auth/handoff?" + urlencode({k: v for k, v in params.items() if v is not None})


async def log_in(http: httpx.AsyncClient, email: str, next_path: str | None) -> httpx.Response:
    """The login form as a browser fills it, with the ``next`` the login page was given."""
    form_page = await http.get("/login", params={"next": next_path} if next_path else None)
    data = {"email": email, "password": PASSWORD, "csrf_token": csrf_of(form_page)}
    if next_path is not None:
        data["next"] = next_path
    response = await http.post("/login", data=data)
    assert response.status_code == 303, response.text[:500]
    return response


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


# --- in memory --------------------------------------------------------------------------------


@pytest.mark.unit
def test_only_paths_of_this_site_are_next_paths() -> None:
    for good in ("/", "/wallet", "/wallet/credentials/abc?claimed=1#top", "/a:b", "/%2F%2Fevil"):
        assert local_path(good) == good, good
    for bad in (
        None,
        "",
        "wallet",
        "//evil.example",
        "///evil.example",
        "https://evil",
        "javascript:alert(1)",
        "/\\evil",
        "\\\\evil",
        "/\t/evil.example",
        "/\n/evil.example",
        "/wallet\x00",
        "/wallet\x7f",
        " /wallet",
        "/" + "a" * MAX_NEXT,
    ):
        assert local_path(bad) is None, bad
    assert local_path("/" + "a" * (MAX_NEXT - 1)) is not None
    # A login leads back to a handoff whose own ``next`` is as long as allowed, escaped.
    long_handoff = handoff_url(state="s" * 128, next="/" + "&" * (MAX_NEXT - 1))
    assert local_path(long_handoff) is None
    assert local_path(long_handoff, MAX_LOGIN_NEXT) == long_handoff


@pytest.mark.unit
def test_the_wallet_names_a_credential_by_the_last_part_of_its_id() -> None:
    credential = uuid.uuid4()
    assert wallet_reference(f"urn:uuid:{credential}") == str(credential)
    assert wallet_reference("plain") == "plain"
    assert wallet_reference("urn:x:a/b c?") == "a%2Fb%20c%3F"


@pytest.mark.unit
def test_the_notifier_url_is_an_http_base_url() -> None:
    assert IntakeSettings.model_fields["notifier_url"].default == "http://127.0.0.1:8005"
    assert IntakeSettings(notifier_url=NOTIFIER + "/").notifier_url == NOTIFIER
    for wrong in (
        "javascript:alert(1)",
        "wallet.example.org",
        "https://",
        "https://user@wallet.example.org",
        "https://wallet.example.org?x=1",
        "https://wallet.example.org 'unsafe-inline'",
        "https://wallet.example.org;script-src *",
    ):
        with pytest.raises(ValidationError):
            IntakeSettings(notifier_url=wrong)


# --- intake alone on the real stack -------------------------------------------------------------


@pytest.fixture
async def intake(servers: Servers, topics_ready: None) -> AsyncIterator[Harness]:
    async with harness(servers, notifier_url=NOTIFIER + "/") as running_intake:
        yield running_intake


@pytest.mark.integration
async def test_a_browser_not_logged_in_logs_in_and_comes_back_to_the_handoff(
    intake: Harness,
) -> None:
    url = handoff_url()

    response = await intake.http.get(url)

    assert response.status_code == 303
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query) == {"next": [url]}

    login_page = await intake.http.get(response.headers["location"])
    assert hidden(login_page, "next") == url
    # Changing the language keeps where the login leads.
    assert f'href="?{urlencode({"next": url})}&amp;lang=pt"' in login_page.text

    logged_in = await log_in(intake.http, intake.learner.email, url)
    assert logged_in.headers["location"] == url
    back = await intake.http.get(logged_in.headers["location"])
    assert back.status_code == 200
    assert hidden(back, "state") == STATE


@pytest.mark.integration
async def test_a_logged_in_browser_gets_a_form_with_a_short_token_for_the_notifier(
    intake: Harness,
) -> None:
    await log_in(intake.http, intake.learner.email, None)
    url = handoff_url(next="/wallet/credentials/abc?claimed=1&x=<b>")

    page = await intake.http.get(url)
    again = await intake.http.get(url)

    assert page.status_code == 200
    assert "Continue to your credentials as Ada Lovelace" in page.text
    assert f'<form id="handoff" method="post" action="{NOTIFIER}/wallet/session">' in page.text
    assert hidden(page, "state") == STATE
    assert hidden(page, "next") == "/wallet/credentials/abc?claimed=1&x=<b>"
    assert "x=<b>" not in page.text  # escaped
    token = hidden(page, "token")
    assert token is not None
    jwks = (await intake.http.get("/.well-known/jwks.json")).json()
    principal = verify_token(token, KeySet.import_key_set(jwks))
    assert (principal.user_id, principal.email) == (intake.learner.user_id, intake.learner.email)
    claims = claims_of(token)
    assert 0 < claims["exp"] - claims["iat"] <= 120
    assert hidden(again, "token") != token  # a fresh one each time

    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    policy = page.headers["content-security-policy"]
    assert f"form-action 'self' {NOTIFIER};" in policy
    assert "frame-ancestors 'none'" in policy
    nonce = re.search(r"script-src 'nonce-([A-Za-z0-9_-]+)'", policy)
    assert nonce is not None
    assert f'<script nonce="{nonce.group(1)}">' in page.text
    assert nonce.group(1) not in again.headers["content-security-policy"]


@pytest.mark.integration
async def test_the_handoff_page_speaks_the_learners_language(intake: Harness) -> None:
    await log_in(intake.http, intake.learner.email, None)

    portuguese = await intake.http.get(handoff_url() + "&lang=pt")
    german = await intake.http.get(handoff_url(to="evil") + "&lang=de")

    assert "Continuar para as suas credenciais como Ada Lovelace" in portuguese.text
    assert "Continuar</button>" in portuguese.text
    # The language links keep the handoff's parameters.
    assert f'href="?{handoff_url().split("?")[1].replace("&", "&amp;")}&amp;lang=de"' in (
        portuguese.text
    )
    assert german.status_code == 400
    assert "Dieser Anmeldelink ist ungültig" in german.text


BAD_PARAMETERS: list[dict[str, str | None]] = [
    {"to": "evil"},
    {"to": None},
    {"next": "//evil.example"},
    {"next": "https://evil"},
    {"next": "/\\evil"},
    {"next": "/\t/evil.example"},
    {"next": "/" + "a" * MAX_NEXT},
    {"next": None},
    {"state": "short"},
    {"state": "not-a-good-state-because!"},
    {"state": "x" * 129},
    {"state": None},
]


@pytest.mark.integration
async def test_a_bad_parameter_gets_a_400_page_and_no_token(intake: Harness) -> None:
    urls = [handoff_url(**bad) for bad in BAD_PARAMETERS]
    urls.append(handoff_url() + "&to=evil")  # twice: which one would count?
    urls.append(handoff_url() + f"&state={STATE}x")

    logged_out = [await intake.http.get(url) for url in urls]
    await log_in(intake.http, intake.learner.email, None)
    logged_in = [await intake.http.get(url) for url in urls]

    for url, response in zip(urls * 2, logged_out + logged_in, strict=True):
        assert response.status_code == 400, url
        assert "This sign-in link is not valid" in response.text, url
        assert 'name="token"' not in response.text, url
        assert "eyJ" not in response.text, url  # no JWT anywhere
        assert NOTIFIER not in response.text, url
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.integration
async def test_logging_in_leads_only_to_paths_of_this_site(intake: Harness) -> None:
    for bad in ("//evil.example", "https://evil", "/\\evil", "/\r\nSet-Cookie:x=1"):
        login_page = await intake.http.get("/login", params={"next": bad})
        assert hidden(login_page, "next") is None, bad
        logged_in = await log_in(intake.http, intake.learner.email, bad)
        assert logged_in.headers["location"] == "/dashboard", bad
        intake.http.cookies.clear()

    logged_in = await log_in(intake.http, intake.learner.email, "/evidence/new")
    assert logged_in.headers["location"] == "/evidence/new"


@pytest.mark.integration
async def test_the_dashboard_links_each_credential_and_the_wallet(intake: Harness) -> None:
    handlers: Intake = intake.app.state.intake
    institution = await handlers.store.institution(intake.institution_id)
    assert institution is not None
    reference = str(uuid.uuid4())
    await handlers.on_credential_issued(
        Envelope.wrap(
            CredentialIssuedV1(
                credential_id=f"urn:uuid:{reference}",
                award_id=f"award-{uuid.uuid4().hex[:12]}",
                learner_id=intake.learner.user_id,
                learner={"name": "Ada Lovelace", "email": intake.learner.email},  # type: ignore[arg-type]
                institution=institution.reference(),
                achievement_title="Developing digital content",
                issued_at=datetime.now(UTC),
                credential={
                    "credentialSubject": {
                        "achievement": {
                            "achievementType": "MicroCredential",
                            "humanCode": "digcomp-3-1",
                        }
                    }
                },
                credential_jwt="a.b.c",
                verification_method="did:web:x#key-1",
            ),
            source="/tests",
            subject="s",
            tenant=intake.institution_id,
        )
    )
    await log_in(intake.http, intake.learner.email, None)

    dashboard = await intake.http.get("/dashboard")
    german = await intake.http.get("/dashboard?lang=de")

    assert dashboard.status_code == 200
    assert f'<a href="{NOTIFIER}/wallet">Your credentials</a>' in dashboard.text
    link = re.search(
        rf'<a href="{NOTIFIER}/wallet/credentials/{reference}" aria-label="([^"]+)">'
        r"Open your credential</a>",
        dashboard.text,
    )
    assert link is not None, dashboard.text
    assert unescape(link.group(1)) == "Open your credential: Developing digital content"
    assert f'<a href="{NOTIFIER}/wallet">Ihre Nachweise</a>' in german.text
    assert "Ihren Nachweis öffnen</a>" in german.text
