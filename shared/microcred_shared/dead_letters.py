"""Replaying a dead-letter topic: its records sent back to the topic they were refused on.

A record is dead-lettered when it could not be used as it was: not an event, or an event a
service refused (an institution not registered yet, a competence unknown to the issuer, ...).
Once the cause is fixed, ``replay`` publishes the records of ``<topic>.dlq`` to ``<topic>``
again, with their key and their own headers (the ``dlq-*`` ones left behind), optionally only
those of one institution or newer than a moment. The consumers are idempotent, so a record that
is replayed twice changes nothing the second time; a record that is still refused goes to the
dead-letter topic again, with its reason.

It reads the dead-letter topic from its beginning to its end as it is when the replay starts,
under no consumer group: what it replays is exactly what the filter says, each time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from microcred_shared.contracts.topics import dead_letter
from microcred_shared.kafka_auth import KafkaConnection

ORIGIN_HEADER = "dlq-original-topic"
REASON_HEADER = "dlq-reason"


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    reason: str
    institution: str | None
    dead_lettered_at: datetime


def _headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, bytes]:
    return dict(record.headers or ())


def _institution(value: bytes | None) -> str | None:
    """The CloudEvent's ``tenant``, if the record is JSON with one."""
    try:
        tenant = json.loads(value or b"").get("tenant")
    except (ValueError, AttributeError):
        return None
    return tenant if isinstance(tenant, str) else None


async def replay(
    connection: KafkaConnection,
    topic: str,
    *,
    institution: str | None = None,
    since: datetime | None = None,
    dry_run: bool = False,
    timeout: float = 30.0,
) -> list[DeadLetter]:
    """Publish ``topic``'s dead letters (those matching) to ``topic``; return what matched."""
    source = dead_letter(topic)
    consumer = AIOKafkaConsumer(
        **connection.aiokafka_options(),
        group_id=None,
        enable_auto_commit=False,
        client_id="microcred-dead-letter-replay",
        request_timeout_ms=int(timeout * 1000),
    )
    producer = AIOKafkaProducer(
        **connection.aiokafka_options(),
        acks="all",
        enable_idempotence=True,
        client_id="microcred-dead-letter-replay",
    )
    await consumer.start()
    try:
        partitions = await _partitions(connection, source, timeout)
        assigned = [TopicPartition(source, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        matched = await _read_until(consumer, ends, topic, institution, since, timeout)
        if matched and not dry_run:
            await producer.start()
            try:
                for record, _ in matched:
                    headers = [
                        (name, value)
                        for name, value in record.headers or ()
                        if not name.startswith("dlq-")
                    ]
                    await producer.send_and_wait(
                        topic, record.value, key=record.key, headers=headers
                    )
            finally:
                await producer.stop()
        return [letter for _, letter in matched]
    finally:
        await consumer.stop()


async def _partitions(connection: KafkaConnection, topic: str, timeout: float) -> list[int]:
    admin = AIOKafkaAdminClient(
        **connection.aiokafka_options(), request_timeout_ms=int(timeout * 1000)
    )
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code") or not described.get("partitions"):
        raise LookupError(f"there is no topic {topic}")
    return [int(p["partition"]) for p in described["partitions"]]


async def _read_until(
    consumer: AIOKafkaConsumer,
    ends: dict[TopicPartition, int],
    topic: str,
    institution: str | None,
    since: datetime | None,
    timeout: float,
) -> list[tuple[ConsumerRecord[bytes, bytes], DeadLetter]]:
    matched = []
    remaining = {tp for tp, end in ends.items() if end > 0}
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=int(timeout * 1000))
        if not batch:
            raise TimeoutError(f"no records of {sorted(tp.partition for tp in remaining)} in time")
        for tp, records in batch.items():
            for record in records:
                if record.offset >= ends[tp]:
                    continue
                headers = _headers(record)
                origin = headers.get(ORIGIN_HEADER, b"").decode()
                tenant = _institution(record.value)
                moment = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                if origin != topic or (institution is not None and tenant != institution):
                    continue
                if since is not None and moment < since:
                    continue
                reason = headers.get(REASON_HEADER, b"").decode(errors="replace")
                matched.append(
                    (
                        record,
                        DeadLetter(
                            record.partition, record.offset, record.key, reason, tenant, moment
                        ),
                    )
                )
            if records and records[-1].offset >= ends[tp] - 1:
                remaining.discard(tp)
    return sorted(
        matched, key=lambda pair: (pair[1].dead_lettered_at, pair[1].partition, pair[1].offset)
    )
