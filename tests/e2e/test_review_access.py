"""Review and accounting answer only those whom intake's tokens entitle.

That is the institution's staff, and a learner for their own progress.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from microcred_shared.demo import demo_institution
from microcred_shared.testing.plugin import Platform
from tests.e2e.journey import platform_client

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
