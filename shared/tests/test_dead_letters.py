"""Invalid records go to the dead-letter topic with the reason; valid ones reach the handler.

Once in memory (FastStream's test broker) and once on the real Kafka broker.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage

from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import EvidenceSubmittedV1
from microcred_shared.kafka import subscribe
from microcred_shared.testing.kafka import read_topic
from microcred_shared.testing.samples import submitted
from microcred_shared.testing.servers import Servers


def broker_with_handler(
    bootstrap: str = "localhost",
) -> tuple[KafkaBroker, list[Envelope[EvidenceSubmittedV1]]]:
    broker = KafkaBroker(bootstrap)
    handled: list[Envelope[EvidenceSubmittedV1]] = []

    async def handler(envelope: Envelope[EvidenceSubmittedV1]) -> None:
        handled.append(envelope)

    subscribe(broker, EvidenceSubmittedV1, handler, group_id=f"test-{uuid.uuid4().hex[:8]}")
    return broker, handled


@pytest.mark.unit
async def test_in_memory_invalid_record_is_dead_lettered() -> None:
    broker, handled = broker_with_handler()
    dead: list[tuple[bytes, dict[str, str]]] = []

    @broker.subscriber(topics.dead_letter(topics.EVIDENCE_SUBMITTED))
    async def collect(message: KafkaMessage) -> None:
        dead.append((message.body, dict(message.headers)))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b'{"not": "an event"}', topics.EVIDENCE_SUBMITTED, key=b"x")
        event = submitted()
        await test_broker.publish(event.to_bytes(), topics.EVIDENCE_SUBMITTED, key=event.key())

    assert [e.id for e in handled] == [event.id]
    [(_, headers)] = dead
    assert "does not belong on this topic" in headers["dlq-reason"]
    assert headers["dlq-original-topic"] == topics.EVIDENCE_SUBMITTED


@pytest.mark.integration
async def test_on_kafka_invalid_record_is_dead_lettered_and_consumer_goes_on(
    servers: Servers, topics_ready: None
) -> None:
    broker, handled = broker_with_handler(servers.kafka_bootstrap)
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
        servers.kafka_bootstrap,
        topics.dead_letter(topics.EVIDENCE_SUBMITTED),
        keep=lambda r: marker.encode() in r.value,
        until=lambda kept: len(kept) >= 1,
    )
    assert dead[0].headers["dlq-reason"].startswith(b"type None does not belong")
    assert dead[0].key == b"learner-1"
    assert [e.id for e in handled if e.tenant == event.tenant] == [event.id]
