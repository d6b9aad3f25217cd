"""Evaluators in a real browser.

An evaluator finds a learner's evidence in the queue, filters, opens it, claims it and approves
part of the hours; another rejects with a reason, by keyboard alone; where the institution asks
for a second approval, a second evaluator confirms the first. The learner's dashboard follows.
Every new page passes axe-core's WCAG 2.1 AA checks.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from microcred_shared.demo import (
    BUILTIN_REVIEW,
    DEVELOPMENT_ADMIN,
    Account,
    PlatformClient,
    demo_institution,
    minimal_pdf,
    wait_for,
)
from microcred_shared.testing.browser import DEFAULT_TIMEOUT_MS, assert_accessible
from microcred_shared.testing.plugin import Platform

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-password-1"
#: How long a decision may take to reach the learner's dashboard (review → Kafka → intake).
DASHBOARD_SECONDS = 60


@dataclass
class Institution:
    client: PlatformClient
    id: str

    async def learner(self, name: str) -> Account:
        email = f"learner.{uuid.uuid4().hex[:8]}@example.org"
        return await self.client.register(self.id, name, email, PASSWORD)

    async def evaluator(self) -> Account:
        email = f"evaluator.{uuid.uuid4().hex[:8]}@example.org"
        return await self.client.evaluator(self.id, email, PASSWORD)

    async def evidence(self, learner: Account, title: str, hours: str, reader: Account) -> str:
        """Upload a piece of evidence and wait until it is in review's queue."""
        record = await self.client.upload(
            self.id,
            learner,
            "digcomp-3-1",
            title,
            hours,
            (f"{uuid.uuid4().hex[:6]}.pdf", minimal_pdf(title), "application/pdf"),
        )
        evidence_id: str = record["id"]
        await wait_for(
            f"{title} in the queue",
            functools.partial(self.client.queued, self.id, evidence_id, reader),
            60,
        )
        return evidence_id


@asynccontextmanager
async def institution(platform: Platform) -> AsyncIterator[Institution]:
    async with httpx.AsyncClient(timeout=30) as http:
        client = PlatformClient(platform.urls, http, platform.servers.mail.messages)
        institution_id = f"eval-{uuid.uuid4().hex[:8]}"
        await client.onboard(demo_institution(institution_id, BUILTIN_REVIEW))
        yield Institution(client, institution_id)


async def log_in(page: Page, intake: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{intake}/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).not_to_have_url(re.compile(r"/login$"))


@asynccontextmanager
async def another_person(browser: Browser) -> AsyncIterator[Page]:
    """A second browser context: its own cookies, as another person's browser."""
    context = await browser.new_context()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def dashboard_shows(page: Page, intake: str, title: str, status: str) -> None:
    """Reload the learner's dashboard until the evidence's row shows ``status``."""
    deadline = time.monotonic() + DASHBOARD_SECONDS
    row = page.get_by_role("row").filter(has_text=title)
    while True:
        await page.goto(f"{intake}/dashboard")
        try:
            await expect(row).to_contain_text(status, timeout=1_000)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        else:
            return


async def test_an_evaluator_filters_claims_and_approves_part_of_the_hours(
    platform: Platform, page: Page, browser: Browser
) -> None:
    intake = platform.urls["intake"]
    async with institution(platform) as school:
        ada = await school.learner("Ada Lovelace")
        bo = await school.learner("Bo Carpenter")
        evaluator = await school.evaluator()
        await school.evidence(ada, "Web accessibility course", "15", evaluator)
        await school.evidence(bo, "Spreadsheet basics", "10", evaluator)

    await log_in(page, intake, evaluator.email)
    await page.get_by_role("link", name="Review", exact=True).click()
    await expect(page).to_have_url(f"{intake}/review/{school.id}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Review queue at")
    rows = page.get_by_role("row")
    await expect(rows.filter(has_text="Web accessibility course")).to_contain_text("Ada Lovelace")
    await expect(rows.filter(has_text="Spreadsheet basics")).to_contain_text("Awaiting review")
    await expect(page.get_by_text("Waiting for a decision")).to_be_visible()
    await assert_accessible(page)

    await page.get_by_label("Competence").select_option("digcomp-3-1")
    await page.get_by_label("Learner's e-mail address").fill(ada.email)
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(r"learner=learner\.[0-9a-f]{8}%40example\.org"))
    await expect(rows.filter(has_text="Web accessibility course")).to_have_count(1)
    await expect(rows.filter(has_text="Spreadsheet basics")).to_have_count(0)
    await assert_accessible(page)

    await page.get_by_role("link", name="Web accessibility course").click()
    await expect(page.get_by_role("heading", name="Web accessibility course")).to_be_visible()
    await expect(page.get_by_role("link", name=re.compile(r"\.pdf$"))).to_be_visible()
    await assert_accessible(page)

    await page.get_by_role("button", name="Claim for 30 minutes").click()
    await expect(page.get_by_role("status")).to_contain_text("You claimed this evidence")
    await expect(page.get_by_text("You hold the claim on this evidence until")).to_be_visible()
    hours = page.get_by_label("Hours to approve")
    await expect(hours).to_have_value("15")  # all the hours claimed, by default
    await expect(page.get_by_label("Approve", exact=True)).to_be_checked()
    await hours.fill("10")
    await page.get_by_role("button", name="Record the decision").click()
    await expect(page.get_by_role("status")).to_contain_text("Your decision was recorded")
    outcome = page.locator("section").filter(
        has=page.get_by_role("heading", name="Decision", exact=True)
    )
    await expect(outcome).to_contain_text("Approved")
    await expect(outcome).to_contain_text("10")
    await expect(page.get_by_role("button", name="Record the decision")).to_have_count(0)
    await assert_accessible(page)

    async with another_person(browser) as learner_page:
        await log_in(learner_page, intake, ada.email)
        await dashboard_shows(learner_page, intake, "Web accessibility course", "Approved")
        await expect(
            learner_page.get_by_text(re.compile(r"\b10 of 90 hours approved"))
        ).to_be_visible()


async def test_an_evaluator_rejects_with_a_reason_by_keyboard(
    platform: Platform, page: Page, browser: Browser
) -> None:
    intake = platform.urls["intake"]
    async with institution(platform) as school:
        learner = await school.learner("Grace Hopper")
        evaluator = await school.evaluator()
        evidence_id = await school.evidence(learner, "Blog writing workshop", "12", evaluator)

    await log_in(page, intake, evaluator.email)
    await page.goto(f"{intake}/review/{school.id}")
    await page.get_by_role("link", name="Blog writing workshop").click()
    await expect(page).to_have_url(f"{intake}/review/{school.id}/evidence/{evidence_id}")

    approve, reject = page.get_by_label("Approve", exact=True), page.get_by_label("Reject")
    hours, reason = (
        page.get_by_label("Hours to approve"),
        page.get_by_label("Message to the learner"),
    )
    record = page.get_by_role("button", name="Record the decision")
    await approve.focus()
    await page.keyboard.press("ArrowDown")  # arrows move through the radio group
    await expect(reject).to_be_checked()
    await expect(reject).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(hours).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(reason).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(record).to_be_focused()
    await page.keyboard.press("Enter")  # no reason given yet
    await expect(page.get_by_role("alert")).to_contain_text("Give a reason: the learner sees it.")
    await expect(reject).to_be_checked()  # the form keeps what was chosen
    await assert_accessible(page)

    await reason.focus()
    await page.keyboard.type("Add the second page of the certificate, with the hours.")
    await page.keyboard.press("Tab")
    await expect(record).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text("Your decision was recorded")
    audit = page.get_by_role("table", name="Audit trail")
    await expect(audit.get_by_role("row").filter(has_text="Rejected")).to_contain_text(
        "Add the second page of the certificate"
    )
    await assert_accessible(page)

    await page.get_by_role("link", name="Deutsch").click()
    await expect(page.get_by_role("heading", name="Prüfprotokoll")).to_be_visible()
    await expect(page.get_by_role("link", name="Zurück zur Warteschlange")).to_be_visible()
    await assert_accessible(page)

    async with another_person(browser) as learner_page:
        await log_in(learner_page, intake, learner.email)
        await dashboard_shows(learner_page, intake, "Blog writing workshop", "Rejected")
        await expect(
            learner_page.get_by_text("Add the second page of the certificate")
        ).to_be_visible()


async def test_a_second_evaluator_confirms_a_large_approval(
    platform: Platform, page: Page, browser: Browser
) -> None:
    intake = platform.urls["intake"]
    async with institution(platform) as school:
        learner = await school.learner("Katherine Johnson")
        first, second = await school.evaluator(), await school.evaluator()
        evidence_id = await school.evidence(learner, "Data journalism course", "30", first)
    item = f"{intake}/review/{school.id}/evidence/{evidence_id}"

    # The platform administrator asks for a second approval above 20 hours.
    await log_in(page, intake, DEVELOPMENT_ADMIN[0], DEVELOPMENT_ADMIN[1])
    await page.get_by_role("link", name="Review settings").click()
    if not page.url.endswith("/settings"):  # several institutions: choose this one
        await expect(page.get_by_role("heading", name="Review settings")).to_be_visible()
        await assert_accessible(page)
        await page.get_by_role("link", name=re.compile(re.escape(f"({school.id})"))).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Review settings of")
    await assert_accessible(page)
    await expect(page.get_by_label("This platform's evaluators, on these pages")).to_be_checked()
    await page.get_by_label("Second approval above (hours)").fill("20")
    await page.get_by_role("button", name="Save the settings").click()
    await expect(page.get_by_role("status")).to_contain_text("The review settings were saved.")
    await expect(page.get_by_label("Second approval above (hours)")).to_have_value("20")

    async with another_person(browser) as first_page:
        await log_in(first_page, intake, first.email)
        await first_page.goto(item)
        await first_page.get_by_role("button", name="Record the decision").click()
        await expect(first_page.get_by_role("status")).to_contain_text(
            "A second evaluator must now confirm it."
        )
        await expect(
            first_page.get_by_text("A second evaluator must confirm your approval")
        ).to_be_visible()
        await expect(first_page.get_by_role("button", name="Record the decision")).to_have_count(0)
        await assert_accessible(first_page)

    async with another_person(browser) as second_page:
        await log_in(second_page, intake, second.email)
        await second_page.goto(f"{intake}/review/{school.id}")
        row = second_page.get_by_role("row").filter(has_text="Data journalism course")
        await expect(row).to_contain_text("Awaiting a second approval")
        await row.get_by_role("link", name="Data journalism course").click()
        await expect(second_page.get_by_role("heading", name="Second approval")).to_be_visible()
        await expect(second_page.get_by_text(re.compile(r"approved 30 hours on"))).to_be_visible()
        await expect(second_page.get_by_label("Hours to approve")).to_have_value("30")
        await assert_accessible(second_page)
        await second_page.get_by_role("button", name="Record the decision").click()
        await expect(second_page.get_by_role("status")).to_contain_text(
            "Your decision was recorded"
        )
        await expect(second_page.get_by_text("Approved", exact=True).first).to_be_visible()

    async with another_person(browser) as learner_page:
        await log_in(learner_page, intake, learner.email)
        await dashboard_shows(learner_page, intake, "Data journalism course", "Approved")
