"""A learner in a real browser.

Register, verify the e-mail, log in, upload evidence, and see it on the dashboard; every page
passes axe-core's WCAG 2.1 AA checks and works by keyboard.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from microcred_shared.demo import PlatformClient, demo_institution, minimal_pdf, plain_text
from microcred_shared.testing.browser import assert_accessible
from microcred_shared.testing.plugin import Platform

pytestmark = pytest.mark.e2e

VERIFY_LINK = re.compile(r"https?://\S+/auth/verify/[A-Za-z0-9_-]{43}")


async def verification_link(platform: Platform, email: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for message in platform.servers.mail.messages():
            if email in str(message["To"]):
                found = VERIFY_LINK.search(plain_text(message))
                if found:
                    return found.group(0)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no verification e-mail for {email}")


async def test_register_verify_log_in_upload_and_see_it(
    platform: Platform, page: Page, tmp_path: Path
) -> None:
    intake = platform.urls["intake"]
    institution_id = f"web-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=30) as http:
        await PlatformClient(platform.urls, http, platform.servers.mail.messages).onboard(
            demo_institution(institution_id)
        )
    email = f"web.{uuid.uuid4().hex[:8]}@example.org"

    await page.goto(f"{intake}/")
    await assert_accessible(page)
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content"  # the first stop by keyboard skips the navigation

    await page.get_by_role("link", name="Register").first.click()
    await assert_accessible(page)
    await page.get_by_label("Institution").select_option(institution_id)
    await page.get_by_label("Full name").fill("Hypatia of Alexandria")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill("a-long-password-1")
    await page.get_by_label("Password").press("Enter")  # submit by keyboard
    await expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    await assert_accessible(page)

    await page.goto(await verification_link(platform, email))
    await expect(page.get_by_text("is confirmed")).to_be_visible()

    await page.goto(f"{intake}/login")
    await assert_accessible(page)
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill("a-long-password-1")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{intake}/dashboard")
    await assert_accessible(page)

    await page.get_by_role("link", name="Upload evidence").first.click()
    await assert_accessible(page)
    certificate = tmp_path / "certificate.pdf"
    certificate.write_bytes(minimal_pdf("web upload"))
    await page.get_by_label("Competence").select_option("digcomp-3-1")
    await page.get_by_label("Title").fill("Web accessibility course")
    await page.get_by_label("Hours of learning").fill("15")
    await page.get_by_label("Start date").fill("2026-02-01")
    await page.get_by_label("End date").fill("2026-02-20")
    await page.get_by_label("Provider or organiser").fill("Open Learning Hub")
    await page.get_by_label("Files").set_input_files(str(certificate))
    await page.get_by_role("button", name="Upload").click()

    await expect(page).to_have_url(re.compile(r"/dashboard\?notice=uploaded$"))
    await expect(page.get_by_role("status")).to_contain_text("Your evidence was uploaded")
    row = page.get_by_role("row").filter(has_text="Web accessibility course")
    await expect(row).to_contain_text("Awaiting review")
    await expect(page.get_by_text("15 hours awaiting review")).to_be_visible()
    await assert_accessible(page)

    await page.get_by_role("link", name="Deutsch").click()
    await expect(page.get_by_role("heading", name="Ihre Nachweise")).to_be_visible()
    await assert_accessible(page)
