"""The evaluator's pages against the real review service: the platform's five processes.

An evaluator signs in through the login form and works through intake's pages, which call review
with a token intake mints for them: queue and filters, claims, refusals shown on the page with
review's status and nothing changed, partial approval, reversal by an administrator.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest

from microcred_shared.demo import (
    BUILTIN_REVIEW,
    DEVELOPMENT_ADMIN,
    Account,
    PlatformClient,
    demo_institution,
    minimal_pdf,
    wait_for,
)
from microcred_shared.testing.plugin import Platform

pytestmark = pytest.mark.e2e

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "a-long-password-1"


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


@asynccontextmanager
async def signed_in(intake: str, email: str, password: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client (it keeps cookies) signed in through the login form."""
    async with httpx.AsyncClient(base_url=intake, timeout=30) as http:
        form = await http.get("/login")
        response = await http.post(
            "/login", data={"email": email, "password": password, "csrf_token": csrf_of(form)}
        )
        assert response.status_code == 303, response.text[:500]
        yield http


@dataclass
class Scene:
    client: PlatformClient
    institution_id: str
    learner: Account
    evaluator: Account
    other_evaluator: Account
    evidence_id: str


@pytest.fixture
async def scene(platform: Platform) -> AsyncIterator[Scene]:
    """An institution, a learner's evidence of 30 hours in its queue, and two evaluators."""
    async with httpx.AsyncClient(timeout=30) as http:
        client = PlatformClient(platform.urls, http, platform.servers.mail.messages)
        institution_id = f"pages-{uuid.uuid4().hex[:8]}"
        await client.onboard(demo_institution(institution_id, BUILTIN_REVIEW))
        learner = await client.register(
            institution_id,
            "Mary Somerville",
            f"learner.{uuid.uuid4().hex[:8]}@example.org",
            PASSWORD,
        )
        evaluator = await client.evaluator(
            institution_id, f"eva.{uuid.uuid4().hex[:8]}@example.org", PASSWORD
        )
        other = await client.evaluator(
            institution_id, f"bob.{uuid.uuid4().hex[:8]}@example.org", PASSWORD
        )
        record = await client.upload(
            institution_id,
            learner,
            "digcomp-3-1",
            "Video editing <course>",
            "30",
            ("certificate.pdf", minimal_pdf("video"), "application/pdf"),
        )
        await wait_for(
            "the evidence in review's queue",
            functools.partial(client.queued, institution_id, record["id"], evaluator),
            60,
        )
        yield Scene(client, institution_id, learner, evaluator, other, record["id"])


async def test_queue_filters_and_item(platform: Platform, scene: Scene) -> None:
    queue_url = f"/review/{scene.institution_id}"
    async with signed_in(platform.urls["intake"], scene.evaluator.email, PASSWORD) as http:
        home = await http.get("/review")
        queue = await http.get(queue_url)
        by_learner = await http.get(
            queue_url, params={"learner": scene.learner.email, "competence": "digcomp-3-1"}
        )
        too_old = await http.get(queue_url, params={"older_than_hours": "1000"})
        decided = await http.get(queue_url, params={"status": "decided"})
        stranger = await http.get(queue_url, params={"learner": "nobody@example.org"})
        nonsense = await http.get(queue_url, params={"older_than_hours": "soon", "status": "x"})
        item = await http.get(f"{queue_url}/evidence/{scene.evidence_id}")
        file = await http.get(
            f"/institutions/{scene.institution_id}/evidence/{scene.evidence_id}/files/0"
        )

    assert home.status_code == 303
    assert home.headers["location"] == queue_url
    assert queue.status_code == 200
    assert "Video editing &lt;course&gt;" in queue.text  # escaped
    assert "Mary Somerville" in queue.text
    assert "Awaiting review" in queue.text
    assert "Decision times" in queue.text
    assert f'href="{queue_url}/evidence/{scene.evidence_id}"' in by_learner.text
    assert "No evidence matches." in too_old.text
    assert "No evidence matches." in decided.text
    assert stranger.status_code == nonsense.status_code == 422
    assert "No learner of this institution has the address nobody@example.org." in stranger.text
    assert "Give the waiting time as a number of hours, 0 or more." in nonsense.text
    assert "Choose a status from the list." in nonsense.text
    assert item.status_code == 200
    assert "Claim for 30 minutes" in item.text
    assert 'name="approved_hours"' in item.text
    assert 'value="30"' in item.text  # all the hours claimed, by default
    assert "certificate.pdf" in item.text
    assert file.status_code == 200
    assert file.content.startswith(b"%PDF")


async def test_a_claim_keeps_other_evaluators_off(platform: Platform, scene: Scene) -> None:
    intake = platform.urls["intake"]
    item = f"/review/{scene.institution_id}/evidence/{scene.evidence_id}"
    async with (
        signed_in(intake, scene.evaluator.email, PASSWORD) as eva,
        signed_in(intake, scene.other_evaluator.email, PASSWORD) as bob,
    ):
        token = csrf_of(await eva.get(item))
        unprotected = await eva.post(f"{item}/claim")
        claimed = await eva.post(f"{item}/claim", data={"csrf_token": token})
        mine = await eva.get(claimed.headers["location"])
        bob_page = await bob.get(item)
        bob_token = csrf_of(bob_page)
        taken = await bob.post(f"{item}/claim", data={"csrf_token": bob_token})
        blocked = await bob.post(
            f"{item}/decision", data={"csrf_token": bob_token, "decision": "approve"}
        )
        released = await eva.post(f"{item}/release", data={"csrf_token": token})
        bob_claims = await bob.post(f"{item}/claim", data={"csrf_token": bob_token})

    assert unprotected.status_code == 403
    assert claimed.status_code == 303
    assert "You hold the claim on this evidence until" in mine.text
    assert "You claimed this evidence" in mine.text
    assert "Evaluator is reviewing this evidence until" in bob_page.text
    assert f'action="{item}/decision"' not in bob_page.text  # no form while claimed
    for refused in (taken, blocked):
        assert refused.status_code == 409
        assert "Another evaluator is reviewing this evidence." in refused.text
    assert released.headers["location"].endswith("?notice=released")
    assert bob_claims.status_code == 303


async def test_refusals_partial_approval_and_reversal(platform: Platform, scene: Scene) -> None:
    intake = platform.urls["intake"]
    item = f"/review/{scene.institution_id}/evidence/{scene.evidence_id}"
    async with (
        signed_in(intake, scene.evaluator.email, PASSWORD) as eva,
        signed_in(intake, *DEVELOPMENT_ADMIN) as admin,
    ):
        token = csrf_of(await eva.get(item))
        no_reason = await eva.post(
            f"{item}/decision", data={"csrf_token": token, "decision": "reject"}
        )
        too_many = await eva.post(
            f"{item}/decision",
            data={"csrf_token": token, "decision": "approve", "approved_hours": "40"},
        )
        approved = await eva.post(
            f"{item}/decision",
            data={"csrf_token": token, "decision": "approve", "approved_hours": "12.5"},
        )
        shown = await eva.get(approved.headers["location"])
        again = await eva.post(
            f"{item}/decision",
            data={"csrf_token": token, "decision": "reject", "reason": "Changed my mind"},
        )
        not_an_admin = await eva.post(
            f"{item}/reversal", data={"csrf_token": token, "reversal_reason": "Mistake"}
        )
        admin_page = await admin.get(item)
        admin_token = csrf_of(admin_page)
        unexplained = await admin.post(f"{item}/reversal", data={"csrf_token": admin_token})
        reversed_ = await admin.post(
            f"{item}/reversal",
            data={"csrf_token": admin_token, "reversal_reason": "The certificate was forged."},
        )
        after = await admin.get(reversed_.headers["location"])

    assert no_reason.status_code == 422
    assert "Give a reason: the learner sees it." in no_reason.text
    assert too_many.status_code == 422
    assert "You can approve at most the 30 hours claimed. Nothing was changed." in too_many.text
    assert 'value="40"' in too_many.text  # what was typed stays in the form
    assert approved.status_code == 303
    assert approved.headers["location"].endswith("?notice=decided")
    assert "Your decision was recorded." in shown.text
    assert "12.5" in shown.text
    assert "Approved" in shown.text
    assert again.status_code == 409
    assert "This evidence has been decided already. Nothing was changed." in again.text
    assert not_an_admin.status_code == 403

    assert "Reverse the approval" in admin_page.text
    assert unexplained.status_code == 422
    assert "Give a reason for the reversal" in unexplained.text
    assert reversed_.status_code == 303
    assert "The approval was reversed." in after.text
    assert "The certificate was forged." in after.text
    assert f'action="{item}/reversal"' not in after.text

    async def learner_sees(status: str) -> bool | None:
        response = await scene.client.http.get(
            f"{intake}/institutions/{scene.institution_id}/evidence/{scene.evidence_id}",
            headers=scene.learner.auth,
        )
        return True if response.json()["status"] == status else None

    await wait_for("the reversal at intake", functools.partial(learner_sees, "reversed"), 60)


async def test_review_settings_page(platform: Platform, scene: Scene) -> None:
    settings_url = f"/review/{scene.institution_id}/settings"
    async with (
        signed_in(platform.urls["intake"], *DEVELOPMENT_ADMIN) as admin,
        signed_in(platform.urls["intake"], scene.evaluator.email, PASSWORD) as evaluator,
    ):
        page = await admin.get(settings_url)
        token = csrf_of(page)
        wrong = await admin.post(
            settings_url,
            data={"csrf_token": token, "mode": "builtin", "second_approval_above_hours": "-2"},
        )
        saved = await admin.post(
            settings_url,
            data={"csrf_token": token, "mode": "builtin", "second_approval_above_hours": "20"},
        )
        shown = await admin.get(saved.headers["location"])
        refused = await evaluator.get(settings_url)
        policy = (
            await scene.client.http.get(
                f"{platform.urls['review']}/institutions/{scene.institution_id}/review-settings",
                headers=scene.evaluator.auth,
            )
        ).json()

    assert page.status_code == 200
    assert 'id="mode-builtin" name="mode" value="builtin" checked' in page.text
    assert wrong.status_code == 422
    assert "Give the threshold as a number of hours above 0" in wrong.text
    assert saved.status_code == 303
    assert "The review settings were saved." in shown.text
    assert 'value="20"' in shown.text
    assert refused.status_code == 403
    assert policy == {"mode": "builtin", "second_approval_above_hours": "20"}
