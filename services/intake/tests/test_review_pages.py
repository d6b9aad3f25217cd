"""The evaluator's pages: intake's handlers calling review for the signed-in user.

In memory: the rules the pages apply before calling review. With intake alone on the real stack
(review out of reach): who sees what, CSRF, and the 503 page. The whole flow against review runs
on the platform's processes in ``test_review_pages_flow.py`` and in the browser tests.
"""

from __future__ import annotations

import ast
import re
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

import microcred_intake
from microcred_intake import pages, report_pages, review_pages
from microcred_intake.formats import Formats, moment
from microcred_intake.i18n import Translator
from microcred_intake.review_pages import decision_body, parse_hours
from microcred_intake.testing import Harness, harness
from microcred_shared.auth import Membership, Principal
from microcred_shared.demo import DEVELOPMENT_ADMIN
from microcred_shared.testing.servers import Servers

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PACKAGE = Path(microcred_intake.__file__).parent


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """Log in through the login form, as a browser does; the client keeps the session cookie."""
    form = await http.get("/login")
    response = await http.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_of(form)}
    )
    assert response.status_code == 303, response.text[:500]
    return response


_ = Translator.for_language("en").gettext


def user(*memberships: tuple[str, str], admin: bool = False) -> Principal:
    return Principal(
        user_id="u-1",
        email="someone@example.org",
        name="Someone",
        memberships=tuple(
            Membership.model_validate({"institution": i, "role": r}) for i, r in memberships
        ),
        platform_admin=admin,
    )


# --- in memory --------------------------------------------------------------------------------


@pytest.mark.unit
def test_hours_are_numbers_above_zero_with_two_decimals_at_most() -> None:
    assert parse_hours("12.5") == Decimal("12.5")
    assert parse_hours("12,25") == Decimal("12.25")  # a decimal comma, as pt and de write it
    assert parse_hours(" 30 ") == Decimal(30)
    for wrong in ("0", "-1", "1.234", "abc", "", "NaN", "Infinity"):
        assert parse_hours(wrong) is None, wrong


@pytest.mark.unit
def test_the_decision_form_becomes_reviews_request() -> None:
    assert decision_body(_, {"decision": "approve", "approved_hours": ""}) == (
        {"decision": "approve"},
        [],
    )
    assert decision_body(_, {"decision": "approve", "approved_hours": "12.5"}) == (
        {"decision": "approve", "approved_hours": "12.5"},
        [],
    )
    body, errors = decision_body(_, {"decision": "reject", "approved_hours": "30"})
    assert errors == ["Give a reason: the learner sees it."]
    body, errors = decision_body(
        _, {"decision": "request_changes", "approved_hours": "30", "reason": " Add page 2 "}
    )
    assert (body, errors) == ({"decision": "request_changes", "reason": "Add page 2"}, [])
    assert decision_body(_, {"decision": "approve", "approved_hours": "-3"})[1]
    assert decision_body(_, {"decision": "delete"})[1]


@pytest.mark.unit
def test_navigation_follows_the_roles() -> None:
    learner = user(("inst-a", "learner"))
    evaluator = user(("inst-a", "learner"), ("inst-a", "evaluator"))
    staff = user(("inst-a", "evaluator"), ("inst-b", "institution_admin"))
    admin = user(admin=True)

    assert pages.navigation(None) == {"learner": False, "review": False, "review_settings": False}
    assert pages.navigation(learner) == {"learner": True, "review": False, "review_settings": False}
    assert pages.navigation(evaluator) == {
        "learner": True,
        "review": True,
        "review_settings": False,
    }
    assert pages.navigation(staff) == {"learner": False, "review": True, "review_settings": True}
    assert pages.navigation(admin) == {"learner": False, "review": True, "review_settings": True}
    assert pages.reviewing_at(staff) == ["inst-a", "inst-b"]
    assert pages.start_page(evaluator) == "/dashboard"
    assert pages.start_page(staff) == "/review"


@pytest.mark.unit
def test_times_and_durations_are_written_in_the_pages_language() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert moment("2026-03-10T09:00:00") == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert moment("2026-03-10T09:00:00Z") == datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    assert moment("yesterday") is None
    assert Formats("en").age("2026-03-10T09:00:00Z", now) == "3 hours"
    assert Formats("de").age("2026-03-08T12:00:00Z", now) == "2 Tage"
    assert Formats("pt").hours(None) == "—"
    assert Formats("en").when("2026-03-10T09:00:00Z").endswith("UTC")
    assert Formats("de").day("2026-03-10") == "10.03.2026"
    assert Formats("en").size(2048) == "2 KB"


def _messages_of_the_pages() -> set[str]:
    found: set[str] = set()
    for template in (PACKAGE / "templates" / "pages").glob("*.html.j2"):
        for _, message, _, _ in extract_from_file(
            "jinja2.ext:babel_extract",
            template,
            keywords={"_": None},
            options={"extensions": "jinja2.ext.i18n"},
        ):
            found.add(message if isinstance(message, str) else message[0])
    # A call's message may be several literals in a row (implicitly concatenated).
    call = re.compile(r"""_\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)[,)]""")
    for module in ("pages.py", "handoff.py", "review_pages.py", "report_pages.py"):
        literals = call.findall((PACKAGE / module).read_text(encoding="utf-8"))
        found.update(ast.literal_eval(f"({literal})") for literal in literals)
    for table in (
        pages.STATUS_NAMES,
        pages.KIND_NAMES,
        pages.NOTICES,
        review_pages.STATUS_FILTERS,
        review_pages.ITEM_STATUSES,
        review_pages.DECISIONS,
        review_pages.AUDIT_ACTIONS,
        review_pages.MODES,
        review_pages.NOTICES,
        dict(enumerate(review_pages.PROBLEMS.values())),
        report_pages.PROBLEMS,
    ):
        found.update(table.values())
    return found - {"microcred"}


@pytest.mark.unit
@pytest.mark.parametrize("language", ["pt", "de"])
def test_every_message_of_the_pages_is_translated(language: str) -> None:
    with (PACKAGE / "locales" / f"{language}.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id for m in catalog if m.id and m.string}
    missing = sorted(_messages_of_the_pages() - translated)
    assert missing == [], f"{language}.po lacks {missing}"


# --- intake alone on the real stack, review out of reach -------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


@pytest.fixture
async def intake_without_review(servers: Servers, topics_ready: None) -> AsyncIterator[Harness]:
    url = f"http://127.0.0.1:{closed_port()}"
    async with harness(servers, review_url=url, review_timeout_seconds=2) as running:
        yield running


@pytest.mark.integration
async def test_learners_see_no_review_and_are_refused_it(intake_without_review: Harness) -> None:
    intake = intake_without_review
    await sign_in(intake.http, intake.learner.email, "a-long-password-1")

    dashboard = await intake.http.get("/dashboard")
    home = await intake.http.get("/review")
    queue = await intake.http.get(f"/review/{intake.institution_id}")
    settings = await intake.http.get(f"/review/{intake.institution_id}/settings")

    assert 'href="/review"' not in dashboard.text
    assert 'href="/review-settings"' not in dashboard.text
    assert home.status_code == queue.status_code == settings.status_code == 403
    assert "You do not review evidence at this institution." in queue.text
    assert "Only the institution&#39;s administrators change its review settings." in settings.text


@pytest.mark.integration
async def test_review_out_of_reach_is_a_503_page(intake_without_review: Harness) -> None:
    intake = intake_without_review
    email = f"evaluator.{uuid.uuid4().hex[:8]}@example.org"
    await intake.client.evaluator(intake.institution_id, email, "a-long-password-1")
    landed = await sign_in(intake.http, email, "a-long-password-1")
    assert landed.headers["location"] == "/dashboard"  # a learner there too (registered so)

    dashboard = await intake.http.get("/dashboard")
    home = await intake.http.get("/review")
    queue = await intake.http.get(f"/review/{intake.institution_id}?status=open")
    item = f"/review/{intake.institution_id}/evidence/ev-1"
    claimed = await intake.http.post(f"{item}/claim", data={"csrf_token": csrf_of(dashboard)})
    forged = await intake.http.post(f"{item}/claim", data={"csrf_token": "not-the-token"})
    settings = await intake.http.get(f"/review/{intake.institution_id}/settings")

    assert 'href="/review"' in dashboard.text
    assert 'href="/review-settings"' not in dashboard.text  # no administrator
    assert home.status_code == 303
    assert home.headers["location"] == f"/review/{intake.institution_id}"
    for page in (queue, claimed):
        assert page.status_code == 503
        assert page.headers["retry-after"] == "10"
        assert page.headers["content-type"].startswith("text/html")
        assert "Review is unavailable" in page.text
        assert "Traceback" not in page.text
    assert f'href="/review/{intake.institution_id}?status=open"' in queue.text  # try again
    assert f'href="{item}"' in claimed.text
    assert forged.status_code == 403
    assert "This form has expired" in forged.text
    assert settings.status_code == 403


@pytest.mark.integration
async def test_administrators_are_offered_review_settings(intake_without_review: Harness) -> None:
    intake = intake_without_review
    await sign_in(intake.http, *DEVELOPMENT_ADMIN)
    intake.http.cookies.set("microcred_lang", "de")

    home = await intake.http.get("/")
    review_home = await intake.http.get("/review")
    settings_home = await intake.http.get("/review-settings")
    settings = await intake.http.get(f"/review/{intake.institution_id}/settings")
    unknown = await intake.http.get("/review/no-such-institution")

    assert '<a href="/review">Prüfung</a>' in home.text
    assert '<a href="/review-settings">Prüfeinstellungen</a>' in home.text
    # Failed claim e-mails are the notifier's page, reached through the wallet.
    assert f'<a href="{intake.settings.notifier_url}/wallet">Abruf-E-Mails</a>' in home.text
    assert 'href="/evidence/new"' not in home.text  # no learner
    # A platform administrator reviews anywhere; this intake knows one institution.
    assert review_home.headers["location"] == f"/review/{intake.institution_id}"
    assert settings_home.headers["location"] == f"/review/{intake.institution_id}/settings"
    assert settings.status_code == 503
    assert "Die Prüfung ist nicht erreichbar" in settings.text
    assert unknown.status_code == 404
