"""Several consumers of one topic in one process: partitions in parallel, each still in order.

On the real broker (three partitions): the first record of one partition is held by its handler,
and the records of another partition are handled meanwhile; once it is let go, the held
partition's records follow in the order they were published.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from microcred_shared.contracts import Envelope
from microcred_shared.contracts.events import EvidenceSubmittedV1
from microcred_shared.kafka import make_broker, subscribe
from microcred_shared.settings import ServiceSettings
from microcred_shared.testing.samples import submitted
from microcred_shared.testing.servers import Servers

pytestmark = pytest.mark.integration


async def test_a_held_partition_does_not_hold_the_others_and_keeps_its_order(
    servers: Servers, topics_ready: None
) -> None:
    settings = ServiceSettings(
        service_name="test",
        kafka_consumers_per_topic=3,
        **servers.kafka_platform.settings_values(),  # type: ignore[arg-type]
    )
    broker = make_broker(settings)
    tenant = f"inst-{uuid.uuid4().hex[:8]}"
    release = asyncio.Event()
    handled: list[str] = []

    async def handler(envelope: Envelope[EvidenceSubmittedV1]) -> None:
        if envelope.tenant != tenant:
            return  # other tests' records on the shared topic
        if envelope.data.evidence_id == "held-1":
            await release.wait()
        handled.append(envelope.data.evidence_id)

    subscribe(
        broker,
        EvidenceSubmittedV1,
        handler,
        group_id=f"microcred-test-{uuid.uuid4().hex[:8]}",
        consumers=settings.kafka_consumers_per_topic,
    )
    held = [submitted(tenant=tenant, evidence_id=f"held-{n}") for n in (1, 2, 3)]
    free = [submitted(tenant=tenant, evidence_id=f"free-{n}") for n in (1, 2, 3)]
    async with broker:
        await broker.start()
        for partition, events in ((0, held), (1, free)):
            for event in events:
                await broker.publish(
                    event.to_bytes(),
                    EvidenceSubmittedV1.topic,
                    key=event.key(),
                    partition=partition,
                )
        # Partition 1 goes on while partition 0's first record is held.
        async with asyncio.timeout(60):
            while len(handled) < len(free):
                await asyncio.sleep(0.05)
        assert handled == ["free-1", "free-2", "free-3"]
        release.set()
        async with asyncio.timeout(30):
            while len(handled) < len(free) + len(held):
                await asyncio.sleep(0.05)
    assert handled[3:] == ["held-1", "held-2", "held-3"]
