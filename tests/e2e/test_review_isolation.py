"""No decision moves hours across institutions, whoever publishes it.

On the real platform: a decision of institution B about A's evidence is refused by review's
gateway (on either institution's decision topic) and, published straight onto the platform's
evidence-reviewed topic, by accounting; each refusal lands on a dead-letter topic with its
reason, and the consumers go on with the next honest decision.
"""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import (
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    InstitutionRef,
    ReviewDecisionV1,
)
from microcred_shared.demo import BUILTIN_REVIEW, demo_institution, wait_for
from microcred_shared.testing.kafka import Record, client_options, publish_events, read_topic
from microcred_shared.testing.plugin import Platform
from tests.e2e.journey import onboard_and_register, platform_client, upload_queued

pytestmark = pytest.mark.e2e


def _about(evidence_id: str) -> functools.partial[bool]:
    def about(evidence: str, record: Record) -> bool:
        return bool(record.json().get("data", {}).get("evidence_id") == evidence)

    return functools.partial(about, evidence_id)


def _reason(record: Record) -> str:
    return record.headers["dlq-reason"].decode()


async def test_foreign_decisions_are_dead_lettered_and_consumers_go_on(
    platform: Platform,
) -> None:
    kafka = platform.servers.kafka_bootstrap
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        a, learner = await onboard_and_register(client)
        b = f"inst-b-{uuid.uuid4().hex[:8]}"
        await client.onboard(demo_institution(b, BUILTIN_REVIEW))
        evaluator = await client.evaluator(
            a, f"evaluator.{uuid.uuid4().hex[:8]}@example.org", "evaluator-password"
        )
        evidence_id = await upload_queued(client, a, learner, evaluator)
        [submitted] = await read_topic(
            kafka,
            topics.EVIDENCE_SUBMITTED,
            keep=_about(evidence_id),
            until=lambda kept: len(kept) >= 1,
        )
        evidence = EvidenceSubmittedV1.model_validate(submitted.json()["data"])

        def decision_of(institution: str) -> Envelope[ReviewDecisionV1]:
            return Envelope.wrap(
                ReviewDecisionV1(
                    decision_id=f"forged-{uuid.uuid4().hex[:8]}",
                    evidence_id=evidence_id,
                    learner_id=learner.user_id,
                    institution_id=institution,
                    decision="approved",
                    approved_hours=Decimal(30),
                    reviewer_id="intruder",
                    decided_at=datetime.now(UTC),
                ),
                source="/intruder",
                subject=evidence_id,
                tenant=institution,
            )

        # B's decision on A's topic, and B's decision about A's evidence on B's own topic.
        on_a_topic = decision_of(b)
        on_b_topic = decision_of(b)
        await _publish_on(kafka, topics.review_decisions(a), on_a_topic)
        await publish_events(kafka, [on_b_topic])
        # The same, straight onto the platform's evidence-reviewed topic: accounting's check.
        forged_reviewed = Envelope.wrap(
            EvidenceReviewedV1(
                decision_id=f"forged-{uuid.uuid4().hex[:8]}",
                evidence_id=evidence_id,
                learner_id=learner.user_id,
                learner=evidence.learner,
                institution=InstitutionRef(id=b, name="B", country="PT"),
                competence=evidence.competence,
                evidence_title=evidence.title,
                evidence_provider=evidence.provider,
                start_date=evidence.start_date,
                end_date=evidence.end_date,
                decision="approved",
                claimed_hours=evidence.hours,
                approved_hours=evidence.hours,
                evaluator_id="intruder",
                decided_at=datetime.now(UTC),
            ),
            source="/intruder",
            subject=evidence_id,
            tenant=b,
        )
        await publish_events(kafka, [forged_reviewed])

        about = _about(evidence_id)
        [on_a] = await read_topic(
            kafka,
            topics.dead_letter(topics.review_decisions(a)),
            keep=about,
            until=lambda kept: len(kept) >= 1,
        )
        [on_b] = await read_topic(
            kafka,
            topics.dead_letter(topics.review_decisions(b)),
            keep=about,
            until=lambda kept: len(kept) >= 1,
        )
        [at_accounting] = await read_topic(
            kafka,
            topics.dead_letter(topics.EVIDENCE_REVIEWED),
            keep=about,
            until=lambda kept: len(kept) >= 1,
        )
        assert _reason(on_a) == f"refused: a decision of institution {b} on the topic of {a}"
        assert _reason(on_b) == f"refused: {b} was asked for no decision on evidence {evidence_id}"
        assert f"institution is {a}, not {b}" in _reason(at_accounting)

        # Nothing moved; then the consumers go on with A's evaluator's honest decision.
        assert (await client.progress(a, learner))["competences"] == []
        await client.approve(a, evidence_id, evaluator)

        async def hours_counted() -> object:
            rows = (await client.progress(a, learner))["competences"]
            return rows if rows and rows[0]["hours"] == "30" else None

        await wait_for("the approved hours on A's ledger", hours_counted, timeout=60)


async def _publish_on(kafka: str, topic: str, envelope: Envelope[ReviewDecisionV1]) -> None:
    """Publish ``envelope`` on ``topic``, which is not the topic its tenant would use."""
    producer = AIOKafkaProducer(**client_options(kafka), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, envelope.to_bytes(), key=envelope.key())
    finally:
        await producer.stop()
