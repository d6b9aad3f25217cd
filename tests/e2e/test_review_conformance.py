"""The conformance kit passes microcred's own built-in reviewer, an evaluator driving it.

The institution reviews in builtin mode on the running platform; the kit publishes its requests
on the institution's request topic and, with an evaluator's token, approves what the evaluators'
workspace queues, through review's HTTP API. The same checks as for an external reviewer hold.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from microcred_shared.conformance.review import (
    ConformanceError,
    ReviewApiEvaluator,
    log_in_evaluator,
)
from microcred_shared.demo import BUILTIN_REVIEW, demo_institution
from microcred_shared.testing.plugin import Platform
from tests.e2e.journey import platform_client

pytestmark = pytest.mark.e2e


async def test_the_builtin_reviewer_passes_the_kit(platform: Platform) -> None:
    institution = f"inst-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        await client.onboard(demo_institution(institution, BUILTIN_REVIEW))
        evaluator = await client.evaluator(
            institution, f"evaluator.{uuid.uuid4().hex[:8]}@example.org", "evaluator-password"
        )
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("microcred")),
        "conformance",
        "review",
        institution,
        "--json",
        # Review finds a new institution's request topic at its next metadata refresh (3 s).
        "--deadline",
        "10",
        "--grace",
        "2",
        "--review-url",
        platform.urls["review"],
        env={
            **os.environ,
            **platform.servers.kafka_platform.settings_env(),
            "MICROCRED_CONFORMANCE_EVALUATOR_TOKEN": evaluator.token,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert stdout, stderr.decode()
    report = json.loads(stdout)

    assert process.returncode == 0, json.dumps(report["checks"], indent=2)
    assert report["passed"] is True
    assert report["review_mode"] == "builtin"
    assert {check["name"] for check in report["checks"]} == {
        "schema",
        "keyed-by-learner",
        "answered-within-deadline",
        "idempotent-redelivery",
        "foreign-refused",
    }


async def test_the_evaluator_driver_logs_in_and_is_refused_without_the_role(
    platform: Platform,
) -> None:
    institution = f"inst-{uuid.uuid4().hex[:10]}"
    email = f"evaluator.{uuid.uuid4().hex[:8]}@example.org"
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        await client.onboard(demo_institution(institution, BUILTIN_REVIEW))
        await client.evaluator(institution, email, "evaluator-password")
        learner = await client.register(
            institution, "Learner", f"learner.{uuid.uuid4().hex[:8]}@example.org", "a-password-1"
        )

    token = await log_in_evaluator(platform.urls["intake"], email, "evaluator-password")
    assert await ReviewApiEvaluator(platform.urls["review"], token).prepare(institution) == (
        "builtin"
    )
    with pytest.raises(ConformanceError, match="refused the evaluator's login"):
        await log_in_evaluator(platform.urls["intake"], email, "not-the-password")
    with pytest.raises(ConformanceError, match="review refused the evaluator"):
        await ReviewApiEvaluator(platform.urls["review"], learner.token).prepare(institution)
