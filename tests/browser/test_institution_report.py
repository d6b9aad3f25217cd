"""The institution report, and a revoked award on the learner's dashboard, in a real browser.

On the whole platform: the institution stacks its competence into a pathway; a learner's three
approvals of 30 hours make accounting award the competence, and so the pathway. An evaluator
opens the institution report from the review workspace and finds the award in the SVG charts
(one bar per month, the current month's bar drawn, the others flat), in the tables and in the CSV
files the page offers; a learner is refused the report. The learner's dashboard shows both
awards with their badges; then an administrator reverses one approval and the dashboard shows the
award and the pathway revoked, with the reason. Every page passes axe-core's WCAG 2.1 AA checks,
in English and in Portuguese.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from microcred_shared.demo import (
    DEVELOPMENT_ADMIN,
    Account,
    PlatformClient,
    wait_for,
)
from microcred_shared.testing.browser import DEFAULT_TIMEOUT_MS, assert_accessible
from microcred_shared.testing.plugin import Platform
from tests.e2e.journey import (
    COMPETENCE,
    Journey,
    onboard_and_register,
    platform_client,
    upload_and_approve,
)

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-password-1"
#: Approvals → accounting's award → intake's records: a few Kafka hops.
AWARD_SECONDS = 120
MONTHS = 12
REVERSAL_REASON = "The certificate of Workshop 1 belongs to another person."
PATHWAY = "digital-creator"


@dataclass
class Awarded:
    """An institution whose learner was awarded the competence, and an evaluator of it."""

    client: PlatformClient
    journey: Journey
    learner: Account
    evaluator: Account

    @property
    def institution_id(self) -> str:
        return self.journey.institution_id


async def dashboard_of(
    client: PlatformClient, institution_id: str, learner: Account
) -> dict[str, Any]:
    """The learner's dashboard as intake's API gives it."""
    response = await client.http.get(
        f"{client.urls['intake']}/institutions/{institution_id}/dashboard", headers=learner.auth
    )
    response.raise_for_status()
    board: dict[str, Any] = response.json()
    return board


def statuses(board: dict[str, Any]) -> tuple[Any, Any]:
    """The competence's and the pathway's status, and whether their badges are in."""
    competences: list[dict[str, Any]] = board["competences"]
    pathways: list[dict[str, Any]] = board["pathways"]
    competence = next((r for r in competences if r["competence_id"] == COMPETENCE), {})
    pathway = next((r for r in pathways if r["pathway_id"] == PATHWAY), {})
    return (
        (competence.get("status"), bool(competence.get("badges"))),
        (pathway.get("status"), bool(pathway.get("badges"))),
    )


async def define_pathway(client: PlatformClient, institution_id: str) -> None:
    """A pathway of the institution's one competence: gaining it completes the pathway."""
    await client.define_pathway(
        institution_id,
        PATHWAY,
        {
            "title": "Digital creator",
            "learning_outcomes": ["Creates digital content of every kind"],
            "eqf_level": 4,
            "rule": "all_of",
            "components": [{"institution_id": institution_id, "competence_id": COMPETENCE}],
            "partners": [],
        },
    )


@pytest.fixture
async def awarded(platform: Platform) -> AsyncIterator[Awarded]:
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        institution_id, learner = await onboard_and_register(client)
        await define_pathway(client, institution_id)
        journey = await upload_and_approve(client, institution_id, learner)

        async def awards_shown() -> bool | None:
            # Both awards, and both badges (the issuer's credentials), reached intake.
            shown = statuses(await dashboard_of(client, institution_id, learner))
            return True if shown == (("awarded", True), ("awarded", True)) else None

        await wait_for("the awards on the learner's dashboard", awards_shown, AWARD_SECONDS)
        evaluator = await client.evaluator(
            institution_id, f"evaluator.{uuid.uuid4().hex[:8]}@example.org", PASSWORD
        )
        yield Awarded(client, journey, learner, evaluator)


async def log_in(page: Page, intake: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{intake}/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).not_to_have_url(re.compile(r"/login$"))


async def bar_heights(bars: Locator) -> list[float]:
    """The bars' drawn heights, as the browser laid them out (CSS pixels)."""
    heights = []
    for index in range(await bars.count()):
        box = await bars.nth(index).bounding_box()
        heights.append(box["height"] if box else 0.0)
    return heights


async def values_of(bars: Locator) -> list[Decimal]:
    return [Decimal(v or "") for v in await bars.evaluate_all("bs => bs.map(b => b.dataset.value)")]


async def downloaded_csv(page: Page, link: Locator) -> list[dict[str, str]]:
    async with page.expect_download() as started:
        await link.click()
    download = await started.value
    text = Path(await download.path()).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


async def charts_show_the_award(page: Page) -> None:
    """One bar per month with this month's drawn; the one competence's bar in full."""
    awards = page.locator("#chart-awards-per-month rect.bar")
    await expect(awards).to_have_count(MONTHS)
    assert await values_of(awards) == [Decimal(0)] * (MONTHS - 1) + [Decimal(1)]
    heights = await bar_heights(awards)
    assert heights[-1] > 0
    assert heights[:-1] == [0.0] * (MONTHS - 1)
    hours = page.locator("#chart-hours-per-month rect.bar")
    await expect(hours).to_have_count(MONTHS)
    assert await values_of(hours) == [Decimal(0)] * (MONTHS - 1) + [Decimal(90)]
    heights = await bar_heights(hours)
    assert heights[-1] > 0
    assert heights[:-1] == [0.0] * (MONTHS - 1)
    per_competence = page.locator("#chart-awards-per-competence rect.bar")
    await expect(per_competence).to_have_count(1)
    assert await values_of(per_competence) == [Decimal(1)]
    assert (await bar_heights(per_competence))[0] > 0


async def tables_show_the_award(page: Page) -> None:
    month_row = page.locator("#months-table tbody tr").first  # the newest first
    await expect(month_row.locator("td")).to_have_text(["90", "1", "1"])
    competence_row = page.locator("#competences-table tbody tr")
    await expect(competence_row).to_have_count(1)
    await expect(competence_row.locator("th")).to_have_text("Developing digital content")
    await expect(competence_row.locator("td")).to_have_text(["90", "1", "1", "0"])
    pathway_row = page.locator("#pathways-table tbody tr")
    await expect(pathway_row).to_have_count(1)
    await expect(pathway_row.locator("th")).to_have_text("Digital creator")
    await expect(pathway_row.locator("td")).to_have_text(["1"])


async def csv_files_show_the_award(page: Page) -> None:
    """The CSV files come through intake with the browser's session."""
    competences = await downloaded_csv(
        page, page.get_by_role("link", name="Download CSV of the competences")
    )
    assert [
        (r["competence_id"], r["title"], Decimal(r["hours_approved"]), r["awards"], r["learners"])
        for r in competences
    ] == [(COMPETENCE, "Developing digital content", Decimal(90), "1", "1")]
    assert competences[0]["pending_evidence"] == "0"
    months = await downloaded_csv(page, page.get_by_role("link", name="Download CSV of the months"))
    assert len(months) == MONTHS
    assert months[-1]["month"] == this_month()
    newest = months[-1]
    assert (Decimal(newest["hours_approved"]), newest["awards"], newest["pathway_awards"]) == (
        Decimal(90),
        "1",
        "1",
    )
    assert all(Decimal(r["hours_approved"]) == 0 for r in months[:-1])


async def test_an_evaluator_reads_the_award_in_the_report_charts_and_csv(
    platform: Platform, page: Page, browser: Browser, awarded: Awarded
) -> None:
    intake = platform.urls["intake"]
    institution_id = awarded.institution_id
    await log_in(page, intake, awarded.evaluator.email)
    await page.goto(f"{intake}/review/{institution_id}")
    await page.get_by_role("link", name="Report", exact=True).click()

    await expect(page).to_have_url(f"{intake}/review/{institution_id}/report")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Report of")
    await expect(page.get_by_role("img", name="Awards per month")).to_be_visible()
    await expect(page.get_by_role("img", name="Net hours approved per month")).to_be_visible()
    await expect(page.get_by_role("img", name="Awards per competence")).to_be_visible()
    await charts_show_the_award(page)
    await tables_show_the_award(page)
    await assert_accessible(page)
    await csv_files_show_the_award(page)

    # In Portuguese, and accessible there too.
    await page.get_by_role("link", name="Português").click()
    await expect(page.get_by_role("img", name="Atribuições por mês")).to_be_visible()
    await expect(page.locator("#chart-awards-per-month rect.bar")).to_have_count(MONTHS)
    await assert_accessible(page)

    # A learner is refused the report, with a page that says why.
    context = await browser.new_context()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        learner_page = await context.new_page()
        await log_in(learner_page, intake, awarded.learner.email)
        response = await learner_page.goto(f"{intake}/review/{institution_id}/report")
        assert response is not None
        assert response.status == 403
        await expect(learner_page.get_by_text("see its report")).to_be_visible()
        await assert_accessible(learner_page)
    finally:
        await context.close()


async def test_a_revoked_award_shows_its_reason_on_the_learners_dashboard(
    platform: Platform, page: Page, awarded: Awarded
) -> None:
    intake = platform.urls["intake"]
    client, institution_id = awarded.client, awarded.institution_id
    await log_in(page, intake, awarded.learner.email)
    await expect(page).to_have_url(f"{intake}/dashboard")
    competence = page.locator("article").filter(
        has=page.get_by_role("heading", name=re.compile("Developing digital content"))
    )
    pathway = page.locator("article").filter(
        has=page.get_by_role("heading", name=re.compile("Digital creator"))
    )
    await expect(competence.locator(".pill")).to_have_text("Awarded")
    await expect(competence).to_contain_text("90 of 90 hours approved (3 of 3 ECTS)")
    await expect(competence.get_by_role("link", name=re.compile("^Badge earned"))).to_have_count(1)
    await expect(pathway.locator(".pill")).to_have_text("Awarded")
    await expect(pathway).to_contain_text("Gain every competence below. 1 of 1 gained.")
    await expect(pathway.get_by_role("link", name="Badge earned: Digital creator")).to_be_visible()
    await assert_accessible(page)

    admin = await client.login(*DEVELOPMENT_ADMIN)
    await client.reverse(institution_id, awarded.journey.evidence_ids[0], admin, REVERSAL_REASON)

    async def revoked() -> bool | None:
        shown = statuses(await dashboard_of(client, institution_id, awarded.learner))
        return True if shown == (("revoked", True), ("revoked", True)) else None

    await wait_for("the revocations on the learner's dashboard", revoked, AWARD_SECONDS)
    await page.reload()
    await expect(competence.locator(".pill")).to_have_text("Revoked")
    await expect(competence).to_contain_text("60 of 90 hours approved")
    await expect(competence).to_contain_text("This award was revoked on")
    await expect(competence).to_contain_text(REVERSAL_REASON)
    # Its badge is shown revoked with the reason, never as earned.
    await expect(competence.get_by_text(re.compile("^Badge earned"))).to_have_count(0)
    await expect(competence.get_by_role("link", name=re.compile("^Badge revoked"))).to_have_count(1)
    await expect(pathway.locator(".pill")).to_have_text("Revoked")
    await expect(pathway).to_contain_text("This award was revoked on")
    await expect(pathway.get_by_text(re.compile("^Badge earned"))).to_have_count(0)
    await assert_accessible(page)
