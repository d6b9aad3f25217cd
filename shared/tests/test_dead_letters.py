"""Invalid records go to the dead-letter topic with the reason; valid ones reach the handler.

Once in memory (FastStream's test broker) and once on the real Kafka broker.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import EvidenceSubmittedV1
from microcred_shared.kafka import make_broker, subscribe
from microcred_shared.kafka_auth import KafkaConnection
from microcred_shared.settings import ServiceSettings
from microcred_shared.testing.kafka import read_topic
from microcred_shared.testing.samples import submitted
from microcred_shared.testing.servers import Servers


def broker_with_handler(
    kafka: KafkaConnection = KafkaConnection("localhost"),
) -> tuple[KafkaBroker, list[Envelope[EvidenceSubmittedV1]]]:
    # As a service: the platform's principal, in a group with the platform's prefix.
    settings = ServiceSettings(service_name="test", **kafka.settings_values())  # type: ignore[arg-type]
    broker = make_broker(settings)
    handled: list[Envelope[EvidenceSubmittedV1]] = []

    async def handler(envelope: Envelope[EvidenceSubmittedV1]) -> None:
        handled.append(envelope)

    subscribe(
        broker, EvidenceSubmittedV1, handler, group_id=f"microcred-test-{uuid.uuid4().hex[:8]}"
    )
    return broker, handled


@pytest.mark.unit
async def test_in_memory_invalid_record_is_dead_lettered() -> None:
    broker, handled = broker_with_handler()
    dead: list[tuple[bytes, dict[str, str]]] = []

    @broker.subscriber(topics.dead_letter(topics.EVIDENCE_SUBMITTED))
    async def collect(message: KafkaMessage) -> None:
        dead.append((message.body, dict(message.headers)))

    event = submitted()
    wrong_type = json.loads(event.to_bytes())
    wrong_type["type"] = "eu.microcred.evidence.reviewed.v1"
    async with TestKafkaBroker(broker) as test_broker:
        for invalid in (
            b'{"not": "an event"}',
            b"\xff\xfe not json",
            json.dumps(wrong_type).encode(),
        ):
            await test_broker.publish(invalid, topics.EVIDENCE_SUBMITTED, key=b"x")
        await test_broker.publish(
            event.to_bytes(),
            topics.EVIDENCE_SUBMITTED,
            key=event.key(),
            headers={"content-type": "application/cloudevents+json; charset=utf-8"},
        )

    assert [e.id for e in handled] == [event.id]
    reasons = [headers["dlq-reason"] for _, headers in dead]
    assert reasons[0].startswith("schema: id: Field required")
    assert reasons[1].startswith("not JSON")
    assert (
        "type 'eu.microcred.evidence.reviewed.v1' is not 'eu.microcred.evidence.submitted.v1'"
        in reasons[2]
    )
    assert all(h["dlq-original-topic"] == topics.EVIDENCE_SUBMITTED for _, h in dead)


@pytest.mark.integration
async def test_on_kafka_invalid_record_is_dead_lettered_and_consumer_goes_on(
    servers: Servers, topics_ready: None
) -> None:
    broker, handled = broker_with_handler(servers.kafka_platform)
    marker = uuid.uuid4().hex
    event = submitted(tenant=f"inst-{marker[:8]}")
    async with broker:
        await broker.start()
        await broker.publish(
            f'{{"marker": "{marker}"}}'.encode(), topics.EVIDENCE_SUBMITTED, key=b"learner-1"
        )
        await broker.publish(event.to_bytes(), topics.EVIDENCE_SUBMITTED, key=event.key())
        async with asyncio.timeout(30):
            while not any(e.id == event.id for e in handled):
                await asyncio.sleep(0.1)

    dead = await read_topic(
        servers.kafka,
        topics.dead_letter(topics.EVIDENCE_SUBMITTED),
        keep=lambda r: marker.encode() in r.value,
        until=lambda kept: len(kept) >= 1,
    )
    assert dead[0].headers["dlq-reason"].startswith(b"schema: id: Field required")
    assert dead[0].key == b"learner-1"
    assert [e.id for e in handled if e.tenant == event.tenant] == [event.id]
