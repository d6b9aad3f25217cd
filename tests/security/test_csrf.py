"""Cross-site request forgery: a cookie-authenticated POST without the form's token does nothing.

Intake's browser forms (learner and evaluator pages, and its API when called with the session
cookie instead of a bearer token) and the notifier's wallet forms. Each forged request is
refused and changes nothing; the same request with the page's token is the control.

Guessing claim tokens is throttled: see ``services/notifier/tests/test_claiming.py``
(``test_guessing_tokens_is_throttled_even_for_a_right_one``), not repeated here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from microcred_intake.testing import Harness as IntakeHarness
from microcred_shared.demo import minimal_pdf
from services.notifier.tests.conftest import Harness as NotifierHarness
from services.notifier.tests.conftest import new_learner
from tests.security.pages import csrf_of

pytestmark = pytest.mark.integration

PASSWORD = "a-long-password-1"


@asynccontextmanager
async def browser_of(intake: IntakeHarness, email: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser (its own cookies) signed in to intake through the login form."""
    transport = httpx.ASGITransport(app=intake.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://service") as http:
        form = await http.get("/login")
        answer = await http.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(form)}
        )
        assert answer.status_code == 303, answer.text[:500]
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=lax" in cookie
        yield http


def evidence_form(title: str) -> dict[str, str]:
    return {
        "competence_id": "digcomp-3-1",
        "title": title,
        "hours": "10",
        "start_date": "2026-01-10",
        "end_date": "2026-02-10",
        "provider": "Open Learning Hub",
        "kind": "course",
    }


async def test_intake_forms_refuse_a_cookie_post_without_the_form_token(
    intake: IntakeHarness,
) -> None:
    inst = intake.institution_id
    evaluator = await intake.client.evaluator(
        inst, f"eva.{uuid.uuid4().hex[:8]}@example.org", PASSWORD
    )
    await intake.client.grant(inst, evaluator.email, "institution_admin")
    async with (
        browser_of(intake, intake.learner.email) as learner,
        browser_of(intake, evaluator.email) as staff,
    ):
        token = csrf_of(await learner.get("/evidence/new"))

        def pdf(name: str) -> list[tuple[str, tuple[str, bytes, str]]]:
            return [("files", ("c.pdf", minimal_pdf(name), "application/pdf"))]

        forged = {
            "upload form, no token": await learner.post(
                "/evidence/new", data=evidence_form("forged 1"), files=pdf("f1")
            ),
            "upload form, wrong token": await learner.post(
                "/evidence/new",
                data={**evidence_form("forged 2"), "csrf_token": token[::-1]},
                files=pdf("f2"),
            ),
            "API upload with the cookie, no token": await learner.post(
                f"/institutions/{inst}/evidence", data=evidence_form("forged 3"), files=pdf("f3")
            ),
            "API upload with the cookie, wrong header": await learner.post(
                f"/institutions/{inst}/evidence",
                data=evidence_form("forged 4"),
                files=pdf("f4"),
                headers={"X-CSRF-Token": "guess"},
            ),
            "API upload, the evaluator's token with the learner's cookie": await learner.post(
                f"/institutions/{inst}/evidence",
                data=evidence_form("forged 5"),
                files=pdf("f5"),
                headers={"X-CSRF-Token": csrf_of(await staff.get("/dashboard"))},
            ),
        }
        assert {k: v.status_code for k, v in forged.items()} == dict.fromkeys(forged, 403)
        assert "Form expired" in forged["upload form, no token"].text
        assert "Form expired" in forged["upload form, wrong token"].text
        assert forged["API upload with the cookie, no token"].json()["title"] == "CSRF check failed"
        assert await learner_titles(learner, inst) == []

        honest = await learner.post(
            "/evidence/new",
            data={**evidence_form("honest"), "csrf_token": token},
            files=pdf("honest"),
        )
        assert honest.status_code == 303, honest.text[:500]
        [record] = await evidence_of(learner, inst)
        evidence_id = record["id"]
        api = await learner.post(
            f"/institutions/{inst}/evidence",
            data=evidence_form("honest by API"),
            files=pdf("honest api"),
            headers={"X-CSRF-Token": token},
        )
        assert api.status_code == 201, api.text

        withdraw = await learner.post(f"/evidence/{evidence_id}/withdraw")
        api_withdraw = await learner.post(f"/institutions/{inst}/evidence/{evidence_id}/withdraw")
        logout = await learner.post("/logout")
        review_action = await staff.post(f"/review/{inst}/evidence/{evidence_id}/claim")
        review_settings = await staff.post(f"/review/{inst}/settings", data={"mode": "external"})
        assert withdraw.status_code == 403
        assert api_withdraw.status_code == 403
        assert logout.status_code == 403
        assert review_action.status_code == 403
        assert review_settings.status_code == 403
        assert all(
            "Form expired" in r.text for r in (withdraw, logout, review_action, review_settings)
        )
        assert [r["status"] for r in await evidence_of(learner, inst)] == ["submitted"] * 2
        still_in = await learner.get("/dashboard")
        assert still_in.status_code == 200  # the forged logout did not end the session
        assert "honest" in still_in.text


async def evidence_of(http: httpx.AsyncClient, institution_id: str) -> list[dict[str, str]]:
    """The learner's evidence, read with the session cookie (a GET needs no form token)."""
    answer = await http.get(f"/institutions/{institution_id}/evidence")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, str]] = answer.json()
    return found


async def learner_titles(http: httpx.AsyncClient, institution_id: str) -> list[str]:
    return [r["title"] for r in await evidence_of(http, institution_id)]


async def test_the_wallet_forms_refuse_a_post_without_the_form_token(
    notifier: NotifierHarness,
) -> None:
    harness = notifier
    learner = new_learner()
    await harness.issue(learner)
    path = await harness.claim(learner)
    ref = path.rsplit("/", 1)[1]
    token = csrf_of(await harness.http.get(path))
    made = await harness.http.post(
        f"{path}/shares", data={"csrf_token": token, "field": ["learner_name"]}
    )
    share_id = parse_qs(urlsplit(made.headers["location"]).query)["created"][0]
    sent_before = len(harness.mail_to(learner.email))

    forged = {
        "share": await harness.http.post(f"{path}/shares", data={"field": ["learner_name"]}),
        "share, wrong token": await harness.http.post(
            f"{path}/shares", data={"csrf_token": token[:-1], "field": ["learner_name"]}
        ),
        "withdraw a share": await harness.http.post(f"{path}/shares/{share_id}/revoke"),
        "LinkedIn": await harness.http.post(f"{path}/linkedin"),
        "resend the claim e-mail": await harness.http.post(f"/wallet/claims/{ref}/resend"),
    }
    session_cookie = harness.http.cookies["microcred_wallet"]
    signed_out = await harness.http.post("/wallet/sign-out")

    assert {k: v.status_code for k, v in forged.items()} == dict.fromkeys(forged, 403)
    # A sign-out without the token is refused too: the session and its cookie stay.
    assert signed_out.status_code == 403
    assert harness.http.cookies["microcred_wallet"] == session_cookie
    page = await harness.http.get(path)
    assert page.status_code == 200
    async with harness.browser() as visitor:
        assert (await visitor.get(f"/share/{share_id}")).status_code == 200  # not withdrawn
    shares = harness.app.state.pages.shares.shares
    assert await shares.count_documents({"_id": share_id, "revoked_at": None}) == 1
    assert await shares.count_documents({"learner_id": learner.learner_id}) == 1  # no more
    assert len(harness.mail_to(learner.email)) == sent_before
