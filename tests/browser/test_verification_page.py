"""The public verification page passes axe-core's WCAG 2.1 A and AA rules, in each of its states.

The pages are rendered by the issuer's own code (the verdicts are made up here, so no server is
needed): a valid credential, a revoked and a suspended one, a forged one, the form, the refusal
of input that is no credential, and the unknown credential's 404 page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import Page

from microcred_issuer.credential import build_pathway_credential, institution_did
from microcred_issuer.verification.api import render_page, verdict_page
from microcred_issuer.verification.inputs import MAX_INPUT_BYTES
from microcred_shared.testing.browser import assert_accessible
from services.issuer.tests.samples import AWARDING, PUBLIC_URL, credential_id_of, pathway_award

pytestmark = pytest.mark.e2e

DID = institution_did(PUBLIC_URL, AWARDING)


def verdict(status: str, *, failed: str | None = None) -> dict[str, Any]:
    credential = build_pathway_credential(
        pathway_award("award-p").data,
        credential_id_of("award-p"),
        DID,
        datetime.now(UTC).replace(microsecond=0),
        did_of=lambda institution_id: institution_did(PUBLIC_URL, institution_id),
        credential_id_of=credential_id_of,
    )
    answer: dict[str, Any] = {
        "verified": status == "active" and failed is None,
        "format": "data-integrity",
        "checks": {"signature": failed is None, "issuer": DID, "status": status, "dates": True},
        "credential": credential,
    }
    if status != "active":
        answer.update(
            failed="status", error=status, revocation={"revoked_at": "2026-11-20T10:00:00Z"}
        )
    if failed is not None:
        answer = {
            "verified": False,
            "format": "vc-jwt",
            "checks": {"signature": False, "issuer": None, "status": None, "dates": None},
            "failed": failed,
            "error": "signature does not verify: bad signature",
        }
    return answer


PAGES = {
    "valid": lambda: verdict_page(verdict("active"), stored=True),
    "revoked": lambda: verdict_page(verdict("revoked"), stored=True),
    "suspended": lambda: verdict_page(verdict("suspended"), stored=True),
    "forged": lambda: verdict_page(verdict("active", failed="signature"), stored=False),
    "form": lambda: render_page("form.html.j2", max_mib=MAX_INPUT_BYTES // 2**20),
    "refused": lambda: render_page(
        "unusable.html.j2", 422, title="Not a credential", reason="the JSON is not an object"
    ),
    "unknown": lambda: render_page("unknown.html.j2", 404, max_mib=4),
}


@pytest.mark.parametrize("state", sorted(PAGES))
async def test_the_verification_page_is_accessible(page: Page, state: str) -> None:
    response = PAGES[state]()
    html = bytes(response.body).decode()
    assert '<html lang="en">' in html
    await page.set_content(html)
    await assert_accessible(page)
