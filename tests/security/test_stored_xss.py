"""Stored cross-site scripting: what learners and evaluators type comes out escaped on pages.

An evidence title and description, a learner's name and an evaluator's message, each carrying
``<script>`` and an ``onerror`` handler, are shown on the learner's dashboard, on the evaluators'
queue and item pages (intake calling the real review service: the platform's processes), and on
the notifier's claim, wallet and share pages and claim e-mail. Each page also sends a
Content-Security-Policy that forbids inline script, so a slip in escaping would not run either.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from microcred_intake.testing import Harness as IntakeHarness
from microcred_shared.demo import (
    BUILTIN_REVIEW,
    PlatformClient,
    demo_institution,
    minimal_pdf,
    wait_for,
)
from microcred_shared.testing.plugin import Platform
from services.notifier.tests.conftest import Harness as NotifierHarness
from services.notifier.tests.conftest import Learner, issued_event
from tests.security.pages import (
    ESCAPED,
    PAYLOAD,
    RAW_MARKERS,
    assert_no_inline_script,
    assert_shown_escaped,
    csrf_of,
)

PASSWORD = "a-long-password-1"


@asynccontextmanager
async def signed_in(
    email: str, *, app: object = None, base_url: str = "https://service"
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client (it keeps cookies) signed in to intake through the login form."""
    transport = httpx.ASGITransport(app=app) if app is not None else None  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as http:
        form = await http.get("/login")
        answer = await http.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(form)}
        )
        assert answer.status_code == 303, answer.text[:500]
        yield http


def no_raw_markup(text: str) -> None:
    for marker in RAW_MARKERS:
        assert marker not in text, marker


@pytest.mark.integration
async def test_the_learner_s_dashboard_and_upload_form_escape_what_was_typed(
    intake: IntakeHarness,
) -> None:
    learner = await intake.client.register(
        intake.institution_id, PAYLOAD, f"x.{uuid.uuid4().hex[:8]}@example.org", PASSWORD
    )
    stored = await intake.http.post(
        f"/institutions/{intake.institution_id}/evidence",
        data={
            "competence_id": "digcomp-3-1",
            "title": PAYLOAD,
            "hours": "10",
            "start_date": "2026-01-10",
            "end_date": "2026-02-10",
            "provider": PAYLOAD,
            "kind": "course",
            "description": PAYLOAD,
        },
        files=[("files", ("c.pdf", minimal_pdf("xss"), "application/pdf"))],
        headers=learner.auth,
    )
    assert stored.status_code == 201, stored.text
    async with signed_in(learner.email, app=intake.app) as browser:
        dashboard = await browser.get("/dashboard")
        assert_shown_escaped(dashboard)
        # A refused form comes back with what was typed in it: escaped too.
        form = await browser.get("/evidence/new")
        again = await browser.post(
            "/evidence/new",
            data={"csrf_token": csrf_of(form), "title": PAYLOAD, "provider": PAYLOAD},
        )
        assert again.status_code == 422
        no_raw_markup(again.text)
        assert ESCAPED in again.text
        assert_no_inline_script(again)


@pytest.mark.integration
async def test_the_notifier_s_pages_and_e_mail_escape_the_learner_s_name_and_the_title(
    notifier: NotifierHarness,
) -> None:
    harness = notifier
    tag = uuid.uuid4().hex[:8]
    learner = Learner(f"l-{tag}", PAYLOAD, f"x.{tag}@example.org")
    await harness.notifier.on_credential_issued(issued_event(learner, title=PAYLOAD))
    [mail] = harness.mail_to(learner.email)
    no_raw_markup(html_of(mail))

    link = await harness.link_for(learner)
    assert_shown_escaped(await harness.http.get(link))
    path = await harness.claim(learner)
    credential_page = await harness.http.get(path)
    assert_shown_escaped(credential_page, count=2)  # the title and the learner's name
    assert_shown_escaped(await harness.http.get("/wallet"))
    made = await harness.http.post(
        f"{path}/shares",
        data={"csrf_token": csrf_of(credential_page), "field": ["learner_name"]},
    )
    share_id = parse_qs(urlsplit(made.headers["location"]).query)["created"][0]
    async with harness.browser() as visitor:
        shared = await visitor.get(f"/share/{share_id}")
    assert_shown_escaped(shared, count=2)
    # The page's preview tags (Open Graph) carry the title in attributes: escaped there too.
    assert not re.search(r'content="[^"]*<', shared.text)


def html_of(message: EmailMessage) -> str:
    parts = [p for p in message.walk() if p.get_content_type() == "text/html"]
    return "".join(str(p.get_content()) for p in parts)


# --- the evaluators' pages, on the platform ------------------------------------------------------


@pytest.mark.e2e
async def test_evaluators_pages_and_the_learner_s_dashboard_escape_stored_markup(
    platform: Platform,
) -> None:
    intake = platform.urls["intake"]
    async with httpx.AsyncClient(timeout=30) as http:
        client = PlatformClient(platform.urls, http, platform.servers.mail.messages)
        institution_id = f"xss-{uuid.uuid4().hex[:8]}"
        await client.onboard(demo_institution(institution_id, BUILTIN_REVIEW))
        learner = await client.register(
            institution_id, PAYLOAD, f"learner.{uuid.uuid4().hex[:8]}@example.org", PASSWORD
        )
        evaluator = await client.evaluator(
            institution_id, f"eva.{uuid.uuid4().hex[:8]}@example.org", PASSWORD
        )
        record = await client.upload(
            institution_id,
            learner,
            "digcomp-3-1",
            PAYLOAD,
            "30",
            ("certificate.pdf", minimal_pdf("xss"), "application/pdf"),
        )
        await wait_for(
            "the evidence in review's queue",
            functools.partial(client.queued, institution_id, record["id"], evaluator),
            60,
        )
    item = f"/review/{institution_id}/evidence/{record['id']}"
    async with signed_in(evaluator.email, base_url=intake) as eva:
        queue = await eva.get(f"/review/{institution_id}")
        assert_shown_escaped(queue, count=2)  # the title and the learner's name
        page = await eva.get(item)
        assert_shown_escaped(page, count=2)
        token = csrf_of(page)
        claimed = await eva.post(f"{item}/claim", data={"csrf_token": token})
        assert claimed.status_code == 303, claimed.text[:500]
        decided = await eva.post(
            f"{item}/decision",
            data={"csrf_token": token, "decision": "request_changes", "reason": PAYLOAD},
        )
        assert decided.status_code == 303, decided.text[:500]
        assert_shown_escaped(await eva.get(decided.headers["location"]), count=3)

    async with signed_in(learner.email, base_url=intake) as own:

        async def reason_shown() -> httpx.Response | None:
            dashboard = await own.get("/dashboard")
            return dashboard if "Changes requested" in dashboard.text else None

        dashboard = await wait_for("the evaluator's message on the dashboard", reason_shown, 60)
        assert_shown_escaped(dashboard, count=2)  # the title and the evaluator's message
