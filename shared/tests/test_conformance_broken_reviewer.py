"""The review conformance kit against a broken reviewer, on the real broker.

The broken reviewer lives here, not in examples/: it decides on another institution's evidence
and gives a redelivered request a new decision id, and the kit must say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from microcred_shared.contracts import Envelope
from microcred_shared.contracts.events import ReviewDecisionV1
from microcred_shared.contracts.topics import (
    institution_review_topics,
    review_decisions,
    review_requests,
)
from microcred_shared.kafka_admin import KafkaAdmin
from microcred_shared.kafka_auth import KafkaConnection
from microcred_shared.testing.servers import Servers

pytestmark = pytest.mark.integration


class BrokenReviewer:
    """Answers every request on the topic, foreign ones too, with a new decision id each time."""

    def __init__(self, kafka: KafkaConnection, institution_id: str) -> None:
        self.kafka = kafka
        self.institution_id = institution_id
        self.answered = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        options = self.kafka.aiokafka_options()
        consumer = AIOKafkaConsumer(
            review_requests(self.institution_id),
            **options,
            group_id=f"microcred-test-broken-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
        )
        producer = AIOKafkaProducer(**options, acks="all")
        await consumer.start()
        await producer.start()
        try:
            async for record in consumer:
                request = json.loads(record.value or b"{}")["data"]
                # Wrong twice over: the request's own institution, not the topic's, and a
                # fresh id on every delivery.
                answer = ReviewDecisionV1(
                    decision_id=str(uuid.uuid4()),
                    evidence_id=request["evidence_id"],
                    learner_id=request["learner_id"],
                    institution_id=request["institution"]["id"],
                    decision="approved",
                    approved_hours=Decimal(request["hours"]),
                    reviewer_id="broken",
                    decided_at=datetime.now(UTC),
                )
                envelope = Envelope.wrap(
                    answer,
                    source="/broken",
                    subject=answer.evidence_id,
                    tenant=answer.institution_id,
                )
                await producer.send_and_wait(
                    review_decisions(self.institution_id), envelope.to_bytes(), key=record.key
                )
                self.answered += 1
        finally:
            await producer.stop()
            await consumer.stop()

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def institution_topics(servers: Servers) -> AsyncIterator[str]:
    institution = f"inst-{uuid.uuid4().hex[:10]}"
    await KafkaAdmin(servers.kafka).ensure_topics(
        institution_review_topics(institution), partitions=3
    )
    yield institution


async def run_kit(servers: Servers, institution: str, *extra: str) -> tuple[int, dict[str, Any]]:
    """The kit as a command, connecting as the platform's principal."""
    env = {**os.environ, **servers.kafka_platform.settings_env()}
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("microcred")),
        "conformance",
        "review",
        institution,
        "--json",
        *extra,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    assert stdout, stderr.decode()
    return process.returncode, json.loads(stdout)


async def test_the_kit_fails_a_broken_reviewer(servers: Servers) -> None:
    async with institution_topics(servers) as institution:
        async with BrokenReviewer(servers.kafka, institution) as broken:
            code, report = await run_kit(
                servers, institution, "--requests", "4", "--deadline", "4", "--grace", "2"
            )
        assert broken.answered >= 10, json.dumps(report)  # 4 own, 2 of them twice more, 2 foreign

    verdict = {check["name"]: check["passed"] for check in report["checks"]}
    assert code == 1
    assert report["passed"] is False
    assert verdict == {
        "schema": True,
        "keyed-by-learner": True,
        "answered-within-deadline": True,
        "idempotent-redelivery": False,
        "foreign-refused": False,
    }
