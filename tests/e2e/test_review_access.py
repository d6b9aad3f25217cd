"""Review and accounting answer only those whom intake's tokens entitle.

That is the institution's staff, and a learner for their own progress.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from microcred_shared.demo import demo_institution, wait_for
from microcred_shared.testing.plugin import Platform
from tests.e2e.journey import onboard_and_register, platform_client, upload_queued

pytestmark = pytest.mark.e2e


async def test_only_the_institutions_evaluators_reach_its_queue(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        a, b = f"inst-a-{uuid.uuid4().hex[:6]}", f"inst-b-{uuid.uuid4().hex[:6]}"
        await client.onboard(demo_institution(a))
        await client.onboard(demo_institution(b))
        evaluator_b = await client.evaluator(
            b, f"eval.{uuid.uuid4().hex[:6]}@example.org", "evaluator-password"
        )
        learner_a = await client.register(
            a, "Learner", f"learner.{uuid.uuid4().hex[:6]}@example.org", "learner-password"
        )
        queue_a = f"{platform.urls['review']}/institutions/{a}/queue"

        anonymous = await http.get(queue_a)
        forged = await http.get(queue_a, headers={"Authorization": "Bearer not.a.token"})
        foreign = await http.get(queue_a, headers=evaluator_b.auth)
        learner = await http.get(queue_a, headers=learner_a.auth)
        own = await http.get(
            f"{platform.urls['review']}/institutions/{b}/queue", headers=evaluator_b.auth
        )
        progress_a = (
            f"{platform.urls['accounting']}/institutions/{a}/learners/{learner_a.user_id}/progress"
        )
        progress_own = await http.get(progress_a, headers=learner_a.auth)
        progress_foreign = await http.get(progress_a, headers=evaluator_b.auth)
        progress_anonymous = await http.get(progress_a)

    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert forged.status_code == 401
    assert foreign.status_code == 403
    assert learner.status_code == 403
    assert own.status_code == 200
    assert own.json() == []
    assert progress_own.status_code == 200
    assert progress_foreign.status_code == 403
    assert progress_anonymous.status_code == 401


async def test_review_settings_belong_to_the_institutions_admins(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        a = f"inst-a-{uuid.uuid4().hex[:6]}"
        await client.onboard(demo_institution(a))
        evaluator = await client.evaluator(
            a, f"eval.{uuid.uuid4().hex[:6]}@example.org", "evaluator-password"
        )
        admin = await client.evaluator(
            a, f"admin.{uuid.uuid4().hex[:6]}@example.org", "admin-password"
        )
        await client.grant(a, admin.email, "institution_admin")
        admin = await client.login(admin.email, "admin-password")
        settings = f"{platform.urls['review']}/institutions/{a}/review-settings"
        wanted = {"mode": "builtin", "second_approval_above_hours": "40"}

        default = await http.get(settings, headers=evaluator.auth)
        by_evaluator = await http.put(settings, json=wanted, headers=evaluator.auth)
        by_admin = await http.put(settings, json=wanted, headers=admin.auth)
        negative = await http.put(
            settings, json={**wanted, "second_approval_above_hours": "-1"}, headers=admin.auth
        )
        unknown_mode = await http.put(settings, json={"mode": "lms"}, headers=admin.auth)
        now = await http.get(settings, headers=evaluator.auth)

    assert default.json() == {"mode": "builtin", "second_approval_above_hours": None}
    assert by_evaluator.status_code == 403
    assert "institution admin" in by_evaluator.json()["detail"]
    assert by_admin.status_code == 200
    assert negative.status_code == 422
    assert unknown_mode.status_code == 422
    assert now.json() == wanted


async def test_a_second_evaluator_confirms_large_approvals(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        a, learner = await onboard_and_register(client)
        await client.configure_review(a, {"mode": "builtin", "second_approval_above_hours": "20"})
        first, second = [
            await client.evaluator(
                a, f"eval.{uuid.uuid4().hex[:6]}@example.org", "evaluator-password"
            )
            for _ in range(2)
        ]
        evidence_id = await upload_queued(client, a, learner, first)
        item = f"{platform.urls['review']}/institutions/{a}/queue/{evidence_id}"
        approve = {"decision": "approve"}
        awaiting = await http.post(f"{item}/decision", json=approve, headers=first.auth)
        again_by_first = await http.post(
            f"{item}/decision", json={**approve, "approved_hours": "25"}, headers=first.auth
        )
        waiting = await http.get(
            f"{platform.urls['review']}/institutions/{a}/queue",
            params={"status": "awaiting_second_approval"},
            headers=second.auth,
        )
        too_many = await http.post(
            f"{item}/decision", json={**approve, "approved_hours": "31"}, headers=second.auth
        )
        confirmed = await http.post(f"{item}/decision", json=approve, headers=second.auth)

        async def hours_counted() -> object:
            rows = (await client.progress(a, learner))["competences"]
            return rows if rows and rows[0]["hours"] == "30" else None

        await wait_for("the approved hours on the ledger", hours_counted, timeout=60)

    assert awaiting.status_code == 200
    assert awaiting.json()["status"] == "awaiting_second_approval"
    assert again_by_first.status_code == 409
    assert [i["evidence_id"] for i in waiting.json()] == [evidence_id]
    assert too_many.status_code == 422
    assert confirmed.json()["status"] == "decided"
    assert confirmed.json()["evaluators"] == [first.user_id, second.user_id]


async def test_reports_pathways_and_award_sharing_belong_to_the_institutions_staff(
    platform: Platform,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        a, b = f"inst-a-{uuid.uuid4().hex[:6]}", f"inst-b-{uuid.uuid4().hex[:6]}"
        await client.onboard(demo_institution(a))
        await client.onboard(demo_institution(b))
        evaluator_a = await client.evaluator(
            a, f"eval.{uuid.uuid4().hex[:6]}@example.org", "evaluator-password"
        )
        admin_b_email = f"admin.{uuid.uuid4().hex[:6]}@example.org"
        await client.register(b, "Admin B", admin_b_email, "admin-b-password")
        await client.grant(b, admin_b_email, "institution_admin")
        admin_b = await client.login(admin_b_email, "admin-b-password")
        learner_a = await client.register(
            a, "Learner", f"learner.{uuid.uuid4().hex[:6]}@example.org", "learner-password"
        )
        accounting = f"{platform.urls['accounting']}/institutions"
        pathway = {
            "title": "Stacked",
            "rule": "all_of",
            "components": [{"institution_id": a, "competence_id": "digcomp-3-1"}],
        }

        def status(response: httpx.Response) -> int:
            return response.status_code

        answers = {
            "report, evaluator": status(
                await http.get(f"{accounting}/{a}/report", headers=evaluator_a.auth)
            ),
            "report, learner": status(
                await http.get(f"{accounting}/{a}/report", headers=learner_a.auth)
            ),
            "report, other institution's admin": status(
                await http.get(f"{accounting}/{a}/report.csv", headers=admin_b.auth)
            ),
            "pathway, evaluator": status(
                await http.put(
                    f"{accounting}/{a}/pathways/p", json=pathway, headers=evaluator_a.auth
                )
            ),
            "pathway, other institution's admin": status(
                await http.put(f"{accounting}/{a}/pathways/p", json=pathway, headers=admin_b.auth)
            ),
            "pathway list, learner": status(
                await http.get(f"{accounting}/{a}/pathways", headers=learner_a.auth)
            ),
            "sharing a's awards, b's admin": status(
                await http.put(f"{accounting}/{a}/award-sharing/{b}", headers=admin_b.auth)
            ),
            "sharing b's awards, b's admin": status(
                await http.put(f"{accounting}/{b}/award-sharing/{a}", headers=admin_b.auth)
            ),
            "sharing, anonymous": status(await http.put(f"{accounting}/{b}/award-sharing/{a}")),
        }

    assert answers == {
        "report, evaluator": 200,
        "report, learner": 403,
        "report, other institution's admin": 403,
        "pathway, evaluator": 403,
        "pathway, other institution's admin": 403,
        "pathway list, learner": 200,
        "sharing a's awards, b's admin": 403,
        "sharing b's awards, b's admin": 200,
        "sharing, anonymous": 401,
    }
