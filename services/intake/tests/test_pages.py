"""The learner's pages, rendered by intake on the real stack (browser tests drive them too)."""

from __future__ import annotations

import re

import httpx
import pytest

from microcred_intake.i18n import choose_language
from microcred_intake.testing import Harness
from microcred_shared.demo import minimal_pdf

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


@pytest.mark.unit
def test_the_language_is_chosen_explicitly_then_remembered_then_from_the_browser() -> None:
    assert choose_language("de", "pt", "en") == "de"
    assert choose_language(None, "pt", "de-DE,de;q=0.9") == "pt"
    assert choose_language(None, None, "fr-FR,pt-BR;q=0.8,de;q=0.5") == "pt"
    assert choose_language("xx", None, "") == "en"


async def test_pages_speak_three_languages(intake: Harness) -> None:
    english = await intake.http.get("/")
    portuguese = await intake.http.get("/?lang=pt")
    remembered = await intake.http.get("/")
    intake.http.cookies.clear()
    german = await intake.http.get("/", headers={"Accept-Language": "de-DE,de;q=0.9"})

    assert '<html lang="en">' in english.text
    assert "Certify what you learned in four steps" in english.text
    assert '<html lang="pt">' in portuguese.text
    assert "Certifique o que aprendeu em quatro passos" in portuguese.text
    assert "microcred_lang=pt" in portuguese.headers["set-cookie"]
    assert '<html lang="pt">' in remembered.text
    assert "Bestätigen Sie Ihr Wissen in vier Schritten" in german.text


async def test_login_upload_and_dashboard_through_forms(intake: Harness) -> None:
    form_page = await intake.http.get("/login")
    refused = await intake.http.post(
        "/login", data={"email": intake.learner.email, "password": "a-long-password-1"}
    )
    assert refused.status_code == 403  # no CSRF token

    logged_in = await intake.http.post(
        "/login",
        data={
            "email": intake.learner.email,
            "password": "a-long-password-1",
            "csrf_token": csrf_of(form_page),
        },
    )
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == "/dashboard"

    upload_page = await intake.http.get("/evidence/new")
    assert "Developing digital content" in upload_page.text
    response = await intake.http.post(
        "/evidence/new",
        data={
            "csrf_token": csrf_of(upload_page),
            "competence_id": "digcomp-3-1",
            "title": "Podcast production <b>course</b>",
            "hours": "12",
            "start_date": "2026-03-01",
            "end_date": "2026-03-20",
            "provider": "Radio school",
            "kind": "course",
        },
        files=[("files", ("certificate.pdf", minimal_pdf("podcast"), "application/pdf"))],
    )
    assert response.status_code == 303, response.text

    dashboard = await intake.http.get("/dashboard?notice=uploaded")
    assert "Podcast production &lt;b&gt;course&lt;/b&gt;" in dashboard.text  # escaped
    assert "Awaiting review" in dashboard.text
    assert "12 hours awaiting review" in dashboard.text
    assert 'value="0"' in dashboard.text  # the progress bar

    bad = await intake.http.post(
        "/evidence/new",
        data={
            "csrf_token": csrf_of(dashboard),
            "competence_id": "digcomp-3-1",
            "title": "Later",
            "hours": "-1",
            "start_date": "2026-03-01",
            "end_date": "2026-03-20",
            "provider": "Radio school",
        },
        files=[("files", ("other.pdf", minimal_pdf("other"), "application/pdf"))],
    )
    assert bad.status_code == 422
    assert 'role="alert"' in bad.text
    assert "Hours of learning" in bad.text
