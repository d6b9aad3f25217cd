"""Claiming a credential in a real browser, from the e-mail in the SMTP sink (issue #7, item 5).

On the whole platform: a learner's three approvals of 30 hours make the institution issue a
credential, and the notifier e-mails its claim link. With an e-mailed code as the second check,
the learner opens the link, consents (after being told to tick the box), enters the code (after
a wrong one), and lands on the credential's page, which the issuer verified just now; they
download each format, follow "Verify this credential" to the issuer, send it to LinkedIn's form
(the request is stopped before it leaves the machine), make a share link without the e-mail
address, which an anonymous visitor opens, and withdraw it. With the account as the second
check, a learner logged in at intake goes through the sign-in handoff without typing anything
more, and another account is refused someone else's credential. Every page checked passes
axe-core's WCAG 2.1 AA rules.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, Request, expect

from microcred_shared.demo import (
    BUILTIN_REVIEW,
    CLAIM_LINK,
    Account,
    PlatformClient,
    demo_institution,
    plain_text,
    wait_for,
)
from microcred_shared.testing.browser import DEFAULT_TIMEOUT_MS, assert_accessible
from microcred_shared.testing.plugin import Platform
from tests.e2e.journey import COMPETENCE, platform_client, upload_and_approve

pytestmark = pytest.mark.e2e

PASSWORD = "a-long-password-1"
LEARNER = "Grace Hopper"
INSTITUTION = "Demo University of Applied Sciences"
TITLE = "Developing digital content"
PATHWAY = "digital-creator"
PATHWAY_TITLE = "Digital creator"
#: Approvals → accounting's award → the issuer's credential → the notifier's e-mail.
CLAIM_EMAIL_SECONDS = 90
CODE = re.compile(r"\b(\d{6})\b")
LINKEDIN = "https://www.linkedin.com/"
CREDENTIAL_PAGE = re.compile(r"/wallet/credentials/[^/?#]+\?claimed=1$")
INVALID_LINK = "This link does not work"


async def onboard(client: PlatformClient, second_check: str) -> tuple[str, Account]:
    """An institution whose learners claim with ``second_check``, and a registered learner."""
    institution_id = f"claim-{uuid.uuid4().hex[:10]}"
    institution = demo_institution(institution_id, BUILTIN_REVIEW)
    institution["claims"] = {"second_check": second_check}
    await client.onboard(institution)
    email = f"learner.{uuid.uuid4().hex[:8]}@example.org"
    learner = await client.register(institution_id, LEARNER, email, PASSWORD)
    return institution_id, learner


def mail_to(platform: Platform, email: str, subject: str) -> list[EmailMessage]:
    return [
        m
        for m in platform.servers.mail.messages()
        if email in str(m.get("To", "")) and str(m.get("Subject", "")) == subject
    ]


async def claim_link(platform: Platform, email: str, title: str) -> str:
    """The link in the claim e-mail of the credential ``title``, once the sink has it."""

    async def found() -> str | None:
        for message in mail_to(platform, email, f"Your micro-credential: {title}"):
            link = CLAIM_LINK.search(plain_text(message))
            if link:
                return link.group(0)
        return None

    return await wait_for(f"the claim e-mail of {title}", found, CLAIM_EMAIL_SECONDS)


async def one_time_code(platform: Platform, email: str, earlier: int) -> str:
    """The code of the code e-mail that came after the ``earlier`` ones."""
    subject = f"Your code to claim {TITLE}"

    async def found() -> str | None:
        messages = mail_to(platform, email, subject)
        if len(messages) <= earlier:
            return None
        code = CODE.search(plain_text(messages[-1]))
        return code.group(1) if code else None

    return await wait_for("the one-time code e-mail", found, 30)


async def log_in(page: Page, intake: str, email: str) -> None:
    await page.goto(f"{intake}/login")
    await page.get_by_label("E-mail address").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(f"{intake}/dashboard")


async def downloaded(page: Page, link: Locator) -> tuple[str, bytes]:
    """Click a download link; the file's suggested name and its bytes."""
    async with page.expect_download() as started:
        await link.click()
    download = await started.value
    return download.suggested_filename, Path(await download.path()).read_bytes()


async def stop_requests_to_linkedin(context: BrowserContext, page: Page) -> list[str]:
    """Fail every request to LinkedIn in the browser (nothing leaves the machine); their URLs.

    ``page.route`` never sees the target of a redirect, and the wallet reaches LinkedIn through
    one (its form answers 303), so the requests are stopped through the DevTools protocol.
    """
    stopped: list[str] = []
    cdp = await context.new_cdp_session(page)

    async def paused(event: dict[str, Any]) -> None:
        stopped.append(event["request"]["url"])
        await cdp.send(
            "Fetch.failRequest", {"requestId": event["requestId"], "errorReason": "BlockedByClient"}
        )

    cdp.on("Fetch.requestPaused", paused)
    await cdp.send("Fetch.enable", {"patterns": [{"urlPattern": f"{LINKEDIN}*"}]})
    return stopped


@pytest.fixture
async def other_page(browser: Browser) -> AsyncIterator[Page]:
    """A page in another browser context: another person, none of the learner's cookies."""
    context = await browser.new_context()
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def consent_with_a_wrong_try(page: Page, link: str) -> None:
    """Open the link, submit without ticking (refused, said aloud), then tick and submit."""
    await page.goto(link)
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Claim your credential: {TITLE}"
    )
    await expect(page.get_by_text("Next, we will e-mail you a one-time code")).to_be_visible()
    await assert_accessible(page)

    agree = page.get_by_label("I have read the privacy terms and agree to them.")
    await page.get_by_role("button", name="Agree and claim").click()
    error = page.get_by_role("alert")
    await expect(error).to_have_text(
        "To claim the credential, tick the box to agree to the privacy terms."
    )
    await expect(agree).to_have_attribute("aria-invalid", "true")
    await expect(agree).to_have_attribute("aria-describedby", "consent-error")
    await expect(page.locator("#consent-error")).to_be_visible()
    await assert_accessible(page)

    await agree.check()
    await page.get_by_role("button", name="Agree and claim").click()
    await expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text("We sent a six-digit code")


async def enter_codes(page: Page, right: str) -> None:
    """A wrong code is refused, said aloud; the right one claims the credential."""
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    code = page.get_by_label("One-time code")
    await code.fill(wrong)
    await page.get_by_role("button", name="Confirm and claim").click()
    await expect(page.get_by_role("alert")).to_have_text("that code is not right")
    await expect(code).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page)
    await code.fill(right)
    await page.get_by_role("button", name="Confirm and claim").click()
    await expect(page).to_have_url(CREDENTIAL_PAGE)


async def check_downloads(page: Page) -> dict[str, Any]:
    """Each format, as the browser downloads it; the JSON-LD credential."""
    name, body = await downloaded(page, page.get_by_role("link", name="Credential (JSON-LD)"))
    assert re.fullmatch(r"credential-.+\.json", name)
    credential: dict[str, Any] = json.loads(body)
    proofs = credential["proof"]
    proofs = proofs if isinstance(proofs, list) else [proofs]
    assert [p.get("cryptosuite") for p in proofs] == ["eddsa-rdfc-2022"]

    name, body = await downloaded(page, page.get_by_role("link", name="Credential (VC-JWT)"))
    assert re.fullmatch(r"credential-.+\.jwt", name)
    parts = body.decode().strip().split(".")
    assert len(parts) == 3
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", part) for part in parts)

    name, body = await downloaded(page, page.get_by_role("link", name=re.compile("^Badge image")))
    assert re.fullmatch(r"badge-.+\.svg", name)
    assert b"<svg" in body
    assert b"openbadges:credential" in body

    name, body = await downloaded(page, page.get_by_role("link", name="Certificate (PDF)"))
    assert re.fullmatch(r"certificate-.+\.pdf", name)
    assert body.startswith(b"%PDF-")
    return credential


async def check_linkedin(page: Page, notifier: str, credential: dict[str, Any]) -> None:
    """LinkedIn's add-to-profile form, filled in with the credential and a share link."""
    stopped = await stop_requests_to_linkedin(page.context, page)
    async with page.expect_request(lambda r: r.url.startswith(LINKEDIN)) as sent:
        await page.get_by_role("button", name="Add to LinkedIn profile").click()
    request: Request = await sent.value
    # Stopped, the navigation ends on the browser's error page; let it, before going on.
    await page.wait_for_url(re.compile("^chrome-error://"))
    parts = urlsplit(request.url)
    assert (parts.netloc, parts.path) == ("www.linkedin.com", "/profile/add")
    query = parse_qs(parts.query)
    assert all(len(values) == 1 for values in query.values()), query
    found = {key: values[0] for key, values in query.items()}
    issued = datetime.fromisoformat(str(credential.get("validFrom") or credential["issuanceDate"]))
    share_url = found.pop("certUrl")
    assert found == {
        "startTask": "CERTIFICATION_NAME",
        "name": TITLE,
        "organizationName": INSTITUTION,
        "issueYear": str(issued.year),
        "issueMonth": str(issued.month),
        "certId": share_url.rsplit("/", 1)[-1],
    }
    assert re.fullmatch(re.escape(f"{notifier}/share/") + r"[A-Za-z0-9_-]{22}", share_url)
    assert request.url in stopped  # it never left the browser


async def check_share_page(
    page: Page, share_url: str, learner: Account, credential_id: str
) -> None:
    """What an anonymous visitor sees: the ticked fields and the live verdict, nothing more."""
    response = await page.goto(share_url)
    assert response is not None
    assert response.status == 200
    await expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    await expect(page.get_by_text("Verified just now.")).to_be_visible()
    await expect(page.get_by_text(INSTITUTION).first).to_be_visible()
    await expect(page.locator("dl.elements")).to_contain_text(LEARNER)
    await expect(page.locator('meta[property="og:title"]')).to_have_attribute(
        "content", f"{TITLE} — {INSTITUTION}"
    )
    await expect(page.locator('meta[property="og:url"]')).to_have_attribute("content", share_url)
    html = await page.content()
    assert learner.email not in html
    assert "Evidence" not in await page.locator("dl.elements").inner_text()
    assert "Workshop 1" not in html  # the evidence's titles
    assert credential_id not in html  # the private address of the whole credential
    await expect(page.get_by_role("button")).to_have_count(0)  # nothing for a visitor to do
    await assert_accessible(page)


async def create_share(page: Page, notifier: str, label: str) -> str:
    """On the credential's page, a share link with the name, without the e-mail address."""
    await page.get_by_label("Your e-mail address").uncheck()
    await page.get_by_label("Your name", exact=True).check()
    await expect(page.get_by_label("Your evidence list")).not_to_be_checked()
    await page.get_by_label("A name for the link, for you (optional)").fill(label)
    await page.get_by_role("button", name="Create share link").click()
    ready = page.get_by_role("status").filter(has_text="Your new share link is ready")
    await expect(ready).to_be_visible()
    share_url = await ready.get_by_role("link").get_attribute("href")
    assert share_url is not None
    assert share_url.startswith(f"{notifier}/share/")
    await assert_accessible(page)
    return share_url


async def check_withdrawn(page: Page, contents: tuple[str, ...]) -> None:
    """The visitor reloads a withdrawn share: a page that names none of ``contents``."""
    gone = await page.reload()
    assert gone is not None
    assert gone.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "This link does not show a credential"
    )
    html = await page.content()
    for content in contents:
        assert content not in html
    await assert_accessible(page)


async def test_a_learner_claims_with_an_emailed_code_downloads_verifies_and_shares(
    platform: Platform, page: Page, other_page: Page
) -> None:
    anonymous = other_page
    notifier, issuer = platform.urls["notifier"], platform.urls["issuer"]
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        institution_id, learner = await onboard(client, "email_code")
        await upload_and_approve(client, institution_id, learner)
        link = await claim_link(platform, learner.email, TITLE)

    # The link, the consent, the code.
    codes_before = len(mail_to(platform, learner.email, f"Your code to claim {TITLE}"))
    await consent_with_a_wrong_try(page, link)
    await assert_accessible(page)
    await enter_codes(page, await one_time_code(platform, learner.email, codes_before))
    credential_url = page.url.split("?", 1)[0]

    # The credential's page: the learner's, verified by the issuer now.
    await expect(page.get_by_role("status").first).to_have_text(
        "The credential is yours. You can download it, check it and share it below."
    )
    await expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    await expect(page.get_by_text("Verified just now.")).to_be_visible()
    await expect(page.get_by_text(learner.email)).to_be_visible()  # the learner sees it all
    await assert_accessible(page)

    credential = await check_downloads(page)
    credential_id = str(credential["id"])

    # The issuer's verification page says the credential is valid.
    await page.get_by_role("link", name="Verify this credential").click()
    await expect(page).to_have_url(re.compile("^" + re.escape(f"{issuer}/credentials/")))
    await expect(page.locator("#verdict-headline")).to_have_text("Valid credential")
    await expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    await page.goto(credential_url)

    await check_linkedin(page, notifier, credential)
    await page.goto(credential_url)

    # A share link with the name and without the e-mail address.
    share_url = await create_share(page, notifier, "For employers")

    await check_share_page(anonymous, share_url, learner, credential_id)

    # Withdrawn by the learner: the visitor's reload shows a page that names nothing.
    await page.get_by_role("button", name="Withdraw link For employers").click()
    row = page.get_by_role("row").filter(has_text="For employers")
    await expect(row).to_contain_text("Withdrawn")
    await expect(row.get_by_role("button")).to_have_count(0)
    await check_withdrawn(anonymous, (TITLE, LEARNER, INSTITUTION, learner.email, credential_id))

    # The claim link was spent.
    spent = await page.goto(link)
    assert spent is not None
    assert spent.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text(INVALID_LINK)
    assert TITLE not in await page.content()


async def define_pathway(client: PlatformClient, institution_id: str) -> None:
    """A pathway of the one competence: its award makes a second credential for the learner."""
    await client.define_pathway(
        institution_id,
        PATHWAY,
        {
            "title": PATHWAY_TITLE,
            "learning_outcomes": ["Creates digital content of every kind"],
            "eqf_level": 4,
            "rule": "all_of",
            "components": [{"institution_id": institution_id, "competence_id": COMPETENCE}],
            "partners": [],
        },
    )


def navigations(page: Page) -> list[str]:
    """The URLs the page's main frame requests from now on, redirects included."""
    seen: list[str] = []

    def record(request: Request) -> None:
        if request.is_navigation_request() and request.frame == page.main_frame:
            seen.append(request.url)

    page.on("request", record)
    return seen


async def test_the_account_check_signs_in_through_intake_and_refuses_another_account(
    platform: Platform, page: Page, other_page: Page
) -> None:
    intake, notifier = platform.urls["intake"], platform.urls["notifier"]
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        institution_id, learner = await onboard(client, "account")
        await define_pathway(client, institution_id)
        other = await client.register(
            institution_id, "Ada Lovelace", f"other.{uuid.uuid4().hex[:8]}@example.org", PASSWORD
        )
        await upload_and_approve(client, institution_id, learner)
        link = await claim_link(platform, learner.email, TITLE)
        pathway_link = await claim_link(platform, learner.email, PATHWAY_TITLE)

    # Logged in at intake, the learner consents and is signed in to the wallet through intake.
    await log_in(page, intake, learner.email)
    await page.goto(link)
    await expect(page.get_by_text("Next, you will sign in with your account")).to_be_visible()
    await assert_accessible(page)
    await page.get_by_label("I have read the privacy terms and agree to them.").check()
    seen = navigations(page)
    await page.get_by_role("button", name="Agree and claim").click()
    await expect(page).to_have_url(CREDENTIAL_PAGE)
    await expect(page.get_by_role("status").first).to_contain_text("The credential is yours.")
    await expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    await expect(page.get_by_text("Verified just now.")).to_be_visible()
    await expect(page.get_by_text(f"Signed in as {LEARNER}")).to_be_visible()
    path = [urlsplit(url)._replace(query="", fragment="").geturl() for url in seen]
    handoff = [
        f"{notifier}/wallet/sign-in",
        f"{intake}/auth/handoff",
        f"{notifier}/wallet/session",
        f"{notifier}/claim/continue",
    ]
    assert [url for url in path if url in handoff] == handoff, path
    await assert_accessible(page)

    # Another account, logged in at intake in another browser, is refused the learner's other
    # credential; its claim stays unused.
    await log_in(other_page, intake, other.email)
    await other_page.goto(pathway_link)
    await expect(other_page.get_by_role("heading", level=1)).to_have_text(
        f"Claim your credential: {PATHWAY_TITLE}"
    )
    await other_page.get_by_label("I have read the privacy terms and agree to them.").check()
    await other_page.get_by_role("button", name="Agree and claim").click()
    await expect(other_page.get_by_role("heading", level=1)).to_have_text(
        "This credential was issued to another account"
    )
    await expect(other_page.get_by_text("You are signed in as Ada Lovelace")).to_be_visible()
    assert urlsplit(other_page.url).path == "/claim/continue"
    await assert_accessible(other_page)

    again = await other_page.goto(pathway_link)
    assert again is not None
    assert again.status == 200
    await expect(other_page.get_by_role("heading", level=1)).to_have_text(
        f"Claim your credential: {PATHWAY_TITLE}"
    )
    await expect(other_page.get_by_role("button", name="Agree and claim")).to_be_visible()
