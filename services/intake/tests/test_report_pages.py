"""The institution report and the learner's dashboard, with a fake accounting.

Intake runs on the real stack (its database, its sessions); accounting is a fake answering the
shapes of its API (``httpx.MockTransport``), so each answer, refusal and failure can be chosen.
Against the real accounting the report runs in ``tests/browser/test_institution_report.py``.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from microcred_intake.accounting_client import AccountingClient
from microcred_intake.charts import COLUMN_HEIGHT, MARGIN_BOTTOM, MARGIN_TOP
from microcred_intake.testing import Harness
from microcred_shared.demo import Account

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SVG = "{http://www.w3.org/2000/svg}"
PASSWORD = "a-long-password-1"
PLOT_HEIGHT = COLUMN_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
REASON = (
    "Approval of 'Podcast course' (30 hours) was reversed: the certificate was forged; "
    "the balance fell to 60 of 90 hours."
)
CSV_MONTHS = b"month,hours_approved,awards,pathway_awards\r\n2026-11,120.00,2,1\r\n"


def last_months(count: int) -> list[str]:
    today = datetime.now(UTC).date()
    index = today.year * 12 + today.month - 1
    return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in range(index - count + 1, index + 1)]


def report_figures(institution_id: str, months: int = 12) -> dict[str, Any]:
    """Accounting's report: three months with figures, one of them a net loss of hours."""
    rows = [
        {"month": month, "hours_approved": "0", "awards": 0, "pathway_awards": 0}
        for month in last_months(months)
    ]
    rows[-3] |= {"hours_approved": "90.00", "awards": 1}
    rows[-2] |= {"hours_approved": "-30.00"}
    rows[-1] |= {"hours_approved": "120.00", "awards": 2, "pathway_awards": 1}
    return {
        "institution_id": institution_id,
        "generated_at": "2026-11-23T17:00:00Z",
        "totals": {
            "hours_approved": "180.00",
            "awards": 3,
            "awards_revoked": 1,
            "pathway_awards": 1,
            "pending_evidence": 4,
            "pending_hours": "50.00",
            "learners": 5,
        },
        "months": rows,
        "competences": [
            {
                "competence_id": "digcomp-1-1",
                "title": "Browsing <data>",
                "hours_approved": "30.00",
                "awards": 1,
                "learners": 2,
                "pending_evidence": 1,
            },
            {
                "competence_id": "digcomp-3-1",
                "title": "Developing digital content",
                "hours_approved": "150.00",
                "awards": 2,
                "learners": 4,
                "pending_evidence": 3,
            },
        ],
        "pathways": [{"pathway_id": "digital-citizen", "title": "Digital citizen", "awards": 1}],
    }


def claims_of(request: httpx.Request) -> dict[str, Any]:
    """The (unverified) claims of the bearer token a request carries."""
    token = request.headers["authorization"].removeprefix("Bearer ")
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


@dataclass
class FakeAccounting:
    """Accounting's API as its shapes say; ``answer`` replaces every answer when set."""

    institution_id: str
    progress: dict[str, Any] = field(default_factory=dict)
    answer: Callable[[httpx.Request], httpx.Response] | None = None
    seen: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.answer is not None:
            return self.answer(request)
        path = request.url.path
        if path.endswith("/progress"):
            return httpx.Response(200, json=self.progress)
        if path.endswith("/report"):
            months = int(request.url.params.get("months", "12"))
            return httpx.Response(200, json=report_figures(self.institution_id, months))
        if path.endswith("/report.csv"):
            name = f"{self.institution_id}-{request.url.params['table']}.csv"
            return httpx.Response(
                200,
                content=CSV_MONTHS,
                headers={
                    "content-type": "text/csv; charset=utf-8",
                    "content-disposition": f'attachment; filename="{name}"',
                },
            )
        return httpx.Response(404, json={"title": "Not Found"})


def with_fake_accounting(intake: Harness) -> FakeAccounting:
    fake = FakeAccounting(intake.institution_id)
    intake.app.state.accounting = AccountingClient(
        "http://accounting", transport=httpx.MockTransport(fake)
    )
    return fake


def refusing_connections(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


async def sign_in(intake: Harness, email: str) -> None:
    form = await intake.http.get("/login")
    found = CSRF.search(form.text)
    assert found is not None
    response = await intake.http.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": found.group(1)}
    )
    assert response.status_code == 303, response.text[:500]


async def evaluator(intake: Harness) -> Account:
    email = f"evaluator.{uuid.uuid4().hex[:8]}@example.org"
    account = await intake.client.evaluator(intake.institution_id, email, PASSWORD)
    await sign_in(intake, email)
    return account


def chart(page: httpx.Response, chart_id: str) -> ET.Element:
    found = re.search(rf'<svg id="{chart_id}".*?</svg>', page.text, re.DOTALL)
    assert found is not None, f"no chart {chart_id}"
    return ET.fromstring(found.group(0))  # noqa: S314 - our own page, as intake rendered it


def bars(svg: ET.Element) -> list[ET.Element]:
    return [r for r in svg.iter(f"{SVG}rect") if "bar" in r.get("class", "").split()]


# --- the institution report -------------------------------------------------------------------


async def test_the_report_draws_each_month_and_competence_with_its_figures(
    intake: Harness,
) -> None:
    fake = with_fake_accounting(intake)
    account = await evaluator(intake)

    page = await intake.http.get(f"/review/{intake.institution_id}/report")

    assert page.status_code == 200, page.text[:500]
    [request] = fake.seen
    assert request.url.path == f"/institutions/{intake.institution_id}/report"
    assert request.url.params["months"] == "12"
    assert claims_of(request)["sub"] == account.user_id  # called as the evaluator
    # The totals.
    assert "<dd>180</dd>" in page.text
    assert "4 (50 hours)" in page.text
    # Awards per month: one bar per month, as high as its share of the axis (0…2 awards).
    awards = chart(page, "chart-awards-per-month")
    assert awards.get("role") == "img"
    assert awards.get("aria-labelledby") == "chart-awards-per-month-title"
    assert awards.get("aria-describedby") == "chart-awards-per-month-desc"
    assert awards.findtext(f"{SVG}title") == "Awards per month"
    assert "3 in all" in (awards.findtext(f"{SVG}desc") or "")
    drawn = bars(awards)
    assert len(drawn) == 12
    assert [Decimal(b.get("data-value", "")) for b in drawn] == [0] * 9 + [1, 0, 2]
    heights = [float(b.get("height", "")) for b in drawn]
    assert heights == [0.0] * 9 + [PLOT_HEIGHT / 2, 0.0, PLOT_HEIGHT]
    # Net hours: the month of reversals hangs below the zero line, lengths still proportional.
    hours = chart(page, "chart-hours-per-month")
    drawn = bars(hours)
    assert len(drawn) == 12
    values = [Decimal(b.get("data-value", "")) for b in drawn]
    assert values[-3:] == [Decimal(90), Decimal(-30), Decimal(120)]
    per_hour = float(drawn[-1].get("height", "")) / 120
    for bar, value in zip(drawn, values, strict=True):
        assert float(bar.get("height", "")) == pytest.approx(abs(float(value)) * per_hour, abs=0.01)
    assert drawn[-2].get("class") == "bar negative"
    assert float(drawn[-2].get("y", "")) > float(drawn[-1].get("y", ""))
    # Awards per competence, the most awarded first, escaped.
    competences = chart(page, "chart-awards-per-competence")
    first, second = bars(competences)
    assert (first.get("data-value"), second.get("data-value")) == ("2", "1")
    assert float(second.get("width", "")) == pytest.approx(float(first.get("width", "")) / 2)
    assert "Browsing &lt;data&gt;" in page.text
    # Which figures follow the period and which are to date (accounting's totals and figures
    # per competence and per pathway ignore it).
    assert '<h2 id="totals-heading">To date</h2>' in page.text
    assert '<h2 id="months-heading">Month by month, in the period</h2>' in page.text
    assert "<caption>Per competence, to date</caption>" in page.text
    assert "<caption>Per pathway, to date: how often it was completed</caption>" in page.text
    assert "Awards of each of 2 competences to date" in page.text
    assert "in the period" not in page.text.split('id="competences-heading"')[1]
    # The numbers in tables too, and the CSV links.
    assert 'id="months-table"' in page.text
    assert '<th scope="row">Digital citizen</th>' in page.text
    csv = f"/review/{intake.institution_id}/report.csv"
    assert f'href="{csv}?table=months&amp;months=12"' in page.text
    assert f'href="{csv}?table=competences&amp;months=12"' in page.text
    # The evaluator's sections link to each other.
    assert f'href="/review/{intake.institution_id}" ' in page.text
    assert f'href="/review/{intake.institution_id}/report" aria-current="page"' in page.text


async def test_the_report_speaks_the_users_language(intake: Harness) -> None:
    with_fake_accounting(intake)
    await evaluator(intake)
    intake.http.cookies.set("microcred_lang", "de")

    page = await intake.http.get(f"/review/{intake.institution_id}/report?months=24")

    assert page.status_code == 200
    assert "Verleihungen je Monat" in page.text
    assert "Bericht von Demo University" in page.text
    assert len(bars(chart(page, "chart-awards-per-month"))) == 24
    assert "CSV der Monate im Zeitraum herunterladen" in page.text
    assert "Je Kompetenz, bis heute" in page.text


async def test_a_period_out_of_range_is_refused_on_the_page(intake: Harness) -> None:
    fake = with_fake_accounting(intake)
    await evaluator(intake)

    page = await intake.http.get(f"/review/{intake.institution_id}/report?months=99")

    assert page.status_code == 422
    assert "Choose a period of 1 to 60 months." in page.text
    assert fake.seen[0].url.params["months"] == "12"  # the default shown meanwhile


async def test_learners_are_refused_the_report_and_its_csv(intake: Harness) -> None:
    fake = with_fake_accounting(intake)
    await sign_in(intake, intake.learner.email)

    report = await intake.http.get(f"/review/{intake.institution_id}/report")
    csv = await intake.http.get(f"/review/{intake.institution_id}/report.csv?table=months")
    chooser = await intake.http.get("/review-report")

    for page in (report, csv, chooser):
        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
    assert "Only the institution&#39;s evaluators and administrators see its report." in (
        report.text
    )
    assert fake.seen == []
    intake.http.cookies.clear()
    anonymous = await intake.http.get(f"/review/{intake.institution_id}/report")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login"


async def test_the_csv_comes_from_accounting_through_the_session(intake: Harness) -> None:
    fake = with_fake_accounting(intake)
    await evaluator(intake)
    path = f"/review/{intake.institution_id}/report.csv"

    months = await intake.http.get(f"{path}?table=months&months=6")
    unknown = await intake.http.get(f"{path}?table=learners")

    assert months.status_code == 200
    assert months.content == CSV_MONTHS
    assert months.headers["content-type"] == "text/csv; charset=utf-8"
    assert months.headers["content-disposition"] == (
        f'attachment; filename="{intake.institution_id}-months.csv"'
    )
    [request] = fake.seen
    assert request.url.path == f"/institutions/{intake.institution_id}/report.csv"
    assert dict(request.url.params) == {"table": "months", "months": "6"}
    assert unknown.status_code == 404


async def test_accountings_refusal_is_shown_with_its_status(intake: Harness) -> None:
    fake = with_fake_accounting(intake)
    fake.answer = lambda _: httpx.Response(403, json={"title": "Forbidden", "detail": "no"})
    await evaluator(intake)

    page = await intake.http.get(f"/review/{intake.institution_id}/report")

    assert page.status_code == 403
    assert "You may not see this institution&#39;s report." in page.text


async def test_accounting_out_of_reach_is_a_503_page_and_the_dashboard_goes_on(
    intake: Harness,
) -> None:
    fake = with_fake_accounting(intake)
    fake.answer = refusing_connections
    await evaluator(intake)  # a learner of the institution too (registered there)

    report = await intake.http.get(f"/review/{intake.institution_id}/report?months=6")
    csv = await intake.http.get(f"/review/{intake.institution_id}/report.csv?table=months")
    dashboard = await intake.http.get("/dashboard")

    for page in (report, csv):
        assert page.status_code == 503
        assert page.headers["retry-after"] == "10"
        assert page.headers["content-type"].startswith("text/html")
        assert "Accounting is unavailable" in page.text
        assert "Traceback" not in page.text
    assert f'href="/review/{intake.institution_id}/report?months=6"' in report.text  # again
    assert dashboard.status_code == 200
    assert "The ledger cannot be reached just now" in dashboard.text


# --- the learner's dashboard ------------------------------------------------------------------


def progress_of(intake: Harness) -> dict[str, Any]:
    return {
        "institution_id": intake.institution_id,
        "learner_id": intake.learner.user_id,
        "competences": [
            {
                "competence_id": "digcomp-3-1",
                "title": "Developing digital content",
                "hours": "60.00",
                "ects": "2.00",
                "hours_per_ects": "30",
                "ects_required": "3",
                "hours_required": "90",
                "status": "revoked",
                "award_id": "award-1",
                "awarded_at": "2026-10-01T10:00:00Z",
                "revoked_at": "2026-11-03T14:00:00Z",
                "revocation_reason": REASON,
            }
        ],
        "pathways": [
            {
                "pathway_id": "digital-citizen",
                "title": "Digital citizen",
                "rule": "n_of",
                "required": 2,
                "completed": 1,
                "components": [
                    {
                        "institution_id": intake.institution_id,
                        "competence_id": "digcomp-3-1",
                        "title": "Developing digital content",
                        "awarded": True,
                    },
                    {
                        "institution_id": "inst-b",
                        "competence_id": "c-9",
                        "title": None,
                        "awarded": False,
                    },
                    {
                        "institution_id": "inst-b",
                        "competence_id": "c-10",
                        "title": "Netiquette",
                        "awarded": False,
                    },
                ],
                "status": "in_progress",
                "award_id": None,
                "awarded_at": None,
                "revoked_at": None,
                "revocation_reason": None,
            }
        ],
    }


async def test_the_dashboard_shows_the_ledger_the_revocation_and_the_pathways(
    intake: Harness,
) -> None:
    fake = with_fake_accounting(intake)
    fake.progress = progress_of(intake)
    await sign_in(intake, intake.learner.email)

    page = await intake.http.get("/dashboard")
    api = await intake.http.get(
        f"/institutions/{intake.institution_id}/dashboard", headers=intake.learner.auth
    )

    assert page.status_code == 200
    assert "60 of 90 hours approved (2 of 3 ECTS)" in page.text
    assert '<span class="pill revoked">Revoked</span>' in page.text
    assert "This award was revoked on Nov 3, 2026." in page.text
    assert "Reason: Approval of &#39;Podcast course&#39; (30 hours) was reversed" in page.text
    assert "The ledger cannot be reached" not in page.text
    assert "Digital citizen" in page.text
    assert "Gain any 2 of the 3 competences below." in page.text
    assert "1 of 2 gained." in page.text
    assert "c-9 at inst-b" in page.text  # a partner's competence accounting has not seen
    for request in fake.seen:
        assert request.url.path == (
            f"/institutions/{intake.institution_id}/learners/{intake.learner.user_id}/progress"
        )
        assert claims_of(request)["sub"] == intake.learner.user_id
    board = api.json()
    assert board["ledger"] == "accounting"
    [competence] = board["competences"]
    assert competence["status"] == "revoked"
    assert competence["revocation_reason"] == REASON
    assert Decimal(competence["approved_hours"]) == 60
    [pathway] = board["pathways"]
    assert (pathway["rule"], pathway["required"], pathway["completed"]) == ("n_of", 2, 1)
    assert [c["awarded"] for c in pathway["components"]] == [True, False, False]


async def test_the_dashboard_api_falls_back_to_intakes_records(intake: Harness) -> None:
    fake = with_fake_accounting(intake)
    fake.answer = lambda _: httpx.Response(502, text="bad gateway")

    response = await intake.http.get(
        f"/institutions/{intake.institution_id}/dashboard", headers=intake.learner.auth
    )

    assert response.status_code == 200
    assert response.json() == {
        "institution_id": intake.institution_id,
        "ledger": "intake",
        "competences": [],
        "pathways": [],
    }
