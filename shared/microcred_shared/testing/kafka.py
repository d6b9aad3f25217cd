"""Observing Kafka in tests: read a topic, measure a consumer group's lag, redeliver events.

Every helper takes the cluster as a :class:`~microcred_shared.kafka_auth.KafkaConnection`
(``servers.kafka``: the administrator, who may read and write any topic) or as a bootstrap
address alone; an address is looked up among the connections registered for the session
(:func:`register_connection`, done by the ``servers`` fixture), so that it gets the credentials
an authenticating broker asks for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from microcred_shared.kafka_auth import KafkaConnection

DUPLICATE_HEADER = "x-microcred-test-redelivery"

Kafka = KafkaConnection | str

_registered: dict[str, KafkaConnection] = {}


def register_connection(connection: KafkaConnection) -> None:
    """Let helpers given only ``connection``'s bootstrap address connect as its principal."""
    _registered[connection.bootstrap_servers] = connection


def connection_for(kafka: Kafka) -> KafkaConnection:
    """``kafka`` itself, or the connection registered for that address (plaintext if none)."""
    if isinstance(kafka, KafkaConnection):
        return kafka
    return _registered.get(kafka) or KafkaConnection(kafka)


def client_options(kafka: Kafka) -> dict[str, Any]:
    """Keyword arguments that connect any aiokafka client to ``kafka``."""
    return connection_for(kafka).aiokafka_options()


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    partition: int
    offset: int

    def json(self) -> Any:
        return json.loads(self.value)

    @property
    def tenant(self) -> str | None:
        """The event's institution, or None for a record that is not an event."""
        try:
            document = json.loads(self.value)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        tenant = document.get("tenant") if isinstance(document, dict) else None
        return tenant if isinstance(tenant, str) else None


async def read_topic(
    kafka: Kafka,
    topic: str,
    *,
    until: Callable[[list[Record]], bool],
    keep: Callable[[Record], bool] = lambda _: True,
    timeout: float = 30.0,
) -> list[Record]:
    """Read ``topic`` from the beginning, keeping matching records, until ``until`` holds."""
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(kafka),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    kept: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        while not until(kept):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: condition not met; kept {len(kept)} records")
            batches = await consumer.getmany(timeout_ms=200)
            for partition, messages in batches.items():
                for m in messages:
                    record = Record(
                        topic=partition.topic,
                        key=m.key,
                        value=m.value or b"",
                        headers=dict(m.headers),
                        partition=m.partition,
                        offset=m.offset,
                    )
                    if keep(record):
                        kept.append(record)
    finally:
        await consumer.stop()
    return kept


async def read_topic_to_end(
    kafka: Kafka,
    topic: str,
    *,
    keep: Callable[[Record], bool] = lambda _: True,
    timeout: float = 30.0,
) -> list[Record]:
    """Every record of ``topic`` from its beginning to (at least) its end as it is now.

    Unlike :func:`read_topic`, nothing is left unread that was there when it was called: a
    duplicate published before it started cannot be missed. Records ``keep`` refuses are dropped.
    """
    partitions = await _partitions(kafka, topic)
    consumer = AIOKafkaConsumer(**client_options(kafka), group_id=None, enable_auto_commit=False)
    await consumer.start()
    kept: list[Record] = []
    deadline = time.monotonic() + timeout
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)

        async def unread() -> bool:
            for partition, end in ends.items():
                if await consumer.position(partition) < end:
                    return True
            return False

        while await unread():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end; kept {len(kept)} records")
            batches = await consumer.getmany(*partitions, timeout_ms=200)
            records = [_record(m) for messages in batches.values() for m in messages]
            kept.extend(r for r in records if keep(r))
    finally:
        await consumer.stop()
    return kept


async def _partitions(kafka: Kafka, topic: str) -> list[TopicPartition]:
    """``topic``'s partitions as the broker describes them (a new client's cache is empty)."""
    admin = AIOKafkaAdminClient(**client_options(kafka))
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    partitions = [
        TopicPartition(topic, partition["partition"])
        for found in described
        if found["error_code"] == 0
        for partition in found["partitions"]
    ]
    if not partitions:
        raise LookupError(f"no such topic: {topic}")
    return sorted(partitions)


def _record(message: Any) -> Record:
    return Record(
        topic=message.topic,
        key=message.key,
        value=message.value or b"",
        headers=dict(message.headers),
        partition=message.partition,
        offset=message.offset,
    )


async def group_lag(kafka: Kafka, group_id: str, topics: Iterable[str]) -> int:
    """Records on ``topics`` that ``group_id`` has not committed yet (all of them if none).

    The partitions come from the broker's own description of each topic: a consumer's cached
    metadata may not know a topic yet, and a lag over no partitions would read as zero.
    """
    topics = list(topics)
    admin = AIOKafkaAdminClient(**client_options(kafka))
    consumer = AIOKafkaConsumer(**client_options(kafka), group_id=None)
    await admin.start()
    await consumer.start()
    try:
        described = await admin.describe_topics(topics)
        partitions = [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            if topic["error_code"] == 0
            for partition in topic["partitions"]
        ]
        found = {tp.topic for tp in partitions}
        if missing := [t for t in topics if t not in found]:
            raise LookupError(f"no such topic: {', '.join(missing)}")
        committed = await admin.list_consumer_group_offsets(group_id)
        ends = await consumer.end_offsets(partitions)
        lag = 0
        for tp, end in ends.items():
            meta = committed.get(tp)
            lag += end - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        return lag
    finally:
        await consumer.stop()
        await admin.close()


class Redeliverer:
    """Publishes every event of one tenant a second time, as a broker redelivery would.

    Copies carry a header so they are not copied again; consumers then see each event twice.
    """

    def __init__(self, kafka: Kafka, topics: Iterable[str], tenant: str) -> None:
        self._kafka = kafka
        self._topics = list(topics)
        self._tenant = tenant
        #: Ids of the events copied; a producer may publish one event twice (at least once).
        self.copied_ids: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self.group_id = f"test-redeliverer-{uuid.uuid4().hex[:8]}"

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            **client_options(self._kafka), enable_idempotence=True, acks="all"
        )
        self._consumer = AIOKafkaConsumer(
            *self._topics,
            **client_options(self._kafka),
            group_id=self.group_id,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await self._producer.start()
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None  # noqa: S101
        assert self._producer is not None  # noqa: S101
        async for message in self._consumer:
            headers = dict(message.headers)
            if DUPLICATE_HEADER in headers:
                continue
            try:
                document = json.loads(message.value or b"{}")
            except json.JSONDecodeError:
                continue
            if not isinstance(document, dict) or document.get("tenant") != self._tenant:
                continue
            await self._producer.send_and_wait(
                message.topic,
                message.value,
                key=message.key,
                headers=[*message.headers, (DUPLICATE_HEADER, b"1")],
            )
            self.copied_ids.add(str(document.get("id")))
            await self._consumer.commit()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()


async def publish_events(kafka: Kafka, envelopes: Iterable[Any]) -> None:
    """Publish events as their producers would: on their topic, keyed by learner."""
    producer = AIOKafkaProducer(**client_options(kafka), enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(envelope.topic, envelope.to_bytes(), key=envelope.key())
    finally:
        await producer.stop()


async def publish_raw(kafka: Kafka, topic: str, value: bytes, *, key: bytes) -> None:
    """Publish bytes that need not be an event (what a broken producer might send)."""
    producer = AIOKafkaProducer(**client_options(kafka), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
