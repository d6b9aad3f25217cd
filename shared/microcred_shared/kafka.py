"""Kafka through FastStream: the broker factory, the event publisher, and validated subscribers.

Delivery is at least once: a subscriber commits a record only after its handler returned, and a
handler that fails is retried (the record is sought back) after a pause. Effects are made
exactly once by the handlers themselves (natural keys, deterministic event ids). A record that is
not a valid event for its topic goes to the topic's dead-letter topic with the reason, and the
subscriber moves on.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.publisher.usecase import DefaultPublisher
from faststream.message import StreamMessage
from pydantic import ValidationError

from microcred_shared.contracts import EventPayload
from microcred_shared.contracts.envelope import Envelope, envelope_type
from microcred_shared.contracts.topics import dead_letter, institution_of_review_topic
from microcred_shared.kafka_auth import KafkaConnection
from microcred_shared.logging import get_logger
from microcred_shared.metrics import DEAD_LETTERED, kafka_middleware
from microcred_shared.settings import ServiceSettings
from microcred_shared.tracing import consuming

log = get_logger(__name__)

P = TypeVar("P", bound=EventPayload)

#: Pause before a failed record is retried, so an outage is not hammered in a tight loop.
RETRY_PAUSE_SECONDS = 1.0

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def admin_client(settings: ServiceSettings) -> AIOKafkaAdminClient:
    """An admin client that connects as the service does (same servers, same credentials)."""
    return AIOKafkaAdminClient(
        **KafkaConnection.from_settings(settings).aiokafka_options(),
        client_id=f"microcred-{settings.service_name}-admin",
        request_timeout_ms=15_000,
    )


#: Kafka's error code for a topic that exists already: another process created it first.
TOPIC_ALREADY_EXISTS = 36


async def create_missing_topics(
    settings: ServiceSettings, names: Sequence[str], *, partitions: int, replication_factor: int
) -> None:
    """Create those of ``names`` that do not exist yet; existing topics are left as they are."""
    admin = admin_client(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [n for n in names if n not in existing]
        if not wanted:
            return
        response = await admin.create_topics(
            [
                NewTopic(n, num_partitions=partitions, replication_factor=replication_factor)
                for n in wanted
            ]
        )
        # Each entry is (topic, error code[, message]); the message came with version 1.
        failures = [
            " ".join(str(part) for part in entry if part)
            for entry in response.topic_errors
            if entry[1] not in (0, TOPIC_ALREADY_EXISTS)
        ]
        if failures:
            raise RuntimeError("could not create topics: " + "; ".join(failures))
        log.info("kafka.topics_created", topics=wanted)
    finally:
        await admin.close()


def make_broker(settings: ServiceSettings, *, description: str = "") -> KafkaBroker:
    """Return the service's broker: idempotent producer, acks from all in-sync replicas."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"microcred-{settings.service_name}",
        enable_idempotence=True,
        acks="all",
        security=KafkaConnection.from_settings(settings).faststream_security(),
        description=description or f"microcred {settings.service_name}",
        # A topic is created by deployment (or the embedded stack), never by a typo.
        allow_auto_create_topics=False,
        metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
        graceful_timeout=10.0,
        # Metrics outermost: a record dead-lettered still counts as received and handled.
        middlewares=[kafka_middleware(settings), DeadLetterMiddleware],
        # Through the standard library, so FastStream's lines get the service's log format.
        logger=logging.getLogger(f"microcred.{settings.service_name}.kafka"),
    )


class RawEventPublisher(Protocol):
    """Port: publish an already serialised event (what the outbox keeps)."""

    async def publish_raw(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        event_id: str,
        trace: Mapping[str, str] | None = None,
    ) -> None: ...


class DeadLetterPublisher(Protocol):
    """Port: send a record this service refuses, found outside a consumer, to its dead letters."""

    async def publish_dead_letter(
        self, topic: str, key: bytes, value: bytes, reason: str
    ) -> None: ...


def dead_letter_headers(reason: str, origin: str, **where: str) -> dict[str, str]:
    """The headers every dead-lettered record carries: why, and where it came from."""
    return {
        "dlq-reason": reason[:4000],
        "dlq-original-topic": origin,
        **{f"dlq-original-{name}": value for name, value in where.items()},
    }


class KafkaEventPublisher:
    """Publishes envelopes on their topics, keyed by learner, through declared publishers.

    Declaring one publisher per payload type is what puts the topics and schemas into the
    service's AsyncAPI document.
    """

    def __init__(self, broker: KafkaBroker, payload_types: Sequence[type[EventPayload]]) -> None:
        self._broker = broker
        self._per_institution = [p for p in payload_types if p.per_institution()]
        self._publishers: dict[str, DefaultPublisher] = {
            p.topic: broker.publisher(
                p.topic,
                title=f"{p.topic}:publish",
                description=(p.__doc__ or "").strip().splitlines()[0],
                schema=envelope_type(p),
            )
            for p in payload_types
        }

    async def publish(self, envelope: Envelope[Any]) -> None:
        await self.publish_raw(envelope.topic, envelope.key(), envelope.to_bytes(), envelope.id)

    async def publish_raw(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        event_id: str,
        trace: Mapping[str, str] | None = None,
    ) -> None:
        """Publish a stored event; ``trace`` is the context it was written in (its headers)."""
        headers = {**(trace or {}), "content-type": CLOUDEVENTS_CONTENT_TYPE, "ce_id": event_id}
        publisher = self._publishers.get(topic)
        if publisher is not None:
            await publisher.publish(value, key=key, headers=headers)
            return
        # An institution's own topic: the declared publisher documents the template only.
        if institution_of_review_topic(topic) is None or not any(
            p.topic_for(institution_of_review_topic(topic) or "") == topic
            for p in self._per_institution
        ):
            raise LookupError(f"this service does not publish on {topic}")
        await self._broker.publish(value, topic=topic, key=key, headers=headers)

    async def publish_dead_letter(self, topic: str, key: bytes, value: bytes, reason: str) -> None:
        log.warning("event.dead_lettered", topic=topic, reason=reason)
        await self._broker.publish(
            value, topic=dead_letter(topic), key=key, headers=dead_letter_headers(reason, topic)
        )
        DEAD_LETTERED.labels(topic).inc()


Handler = Callable[[Envelope[P]], Awaitable[None]]


class HandlerFailedError(Exception):
    """A handler failed on a valid event; the record is retried, never dead-lettered."""


class RefusedEventError(Exception):
    """A well-formed event the handler refuses for good (foreign, unknown, contradicting).

    Raised by a handler, it sends the record to the dead-letter topic with ``reason``: retrying
    would never make it acceptable.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def decode_json(message: StreamMessage[Any]) -> Any:
    """Decode every record as JSON, whatever its content type; a failure dead-letters it."""
    return json.loads(message.body)


def describe_invalid(error: Exception) -> str:
    if isinstance(error, RefusedEventError):
        return f"refused: {error.reason}"
    if isinstance(error, ValidationError):
        return "schema: " + "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or '<root>'}: {err['msg']}"
            for err in error.errors(include_url=False)
        )
    return f"not JSON: {error}"


class DeadLetterMiddleware(BaseMiddleware):
    """Sends a record that fails decoding or validation to its topic's dead-letter topic.

    The record is then acknowledged, so the consumer goes on; the reason travels in the
    ``dlq-reason`` header, with the record's origin.
    """

    async def consume_scope(
        self, call_next: Callable[[Any], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        try:
            return await call_next(msg)
        except (
            ValidationError,
            json.JSONDecodeError,
            UnicodeDecodeError,
            RefusedEventError,
        ) as invalid:
            record = msg.raw_message
            record = record[0] if isinstance(record, tuple) else record
            reason = describe_invalid(invalid)
            log.warning(
                "event.dead_lettered",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=reason,
            )
            broker: KafkaBroker = self.context.get("broker")
            await broker.publish(
                msg.body,
                topic=dead_letter(record.topic),
                key=record.key,
                headers=dead_letter_headers(
                    reason,
                    record.topic,
                    partition=str(record.partition),
                    offset=str(record.offset),
                ),
            )
            DEAD_LETTERED.labels(record.topic).inc()
            return None


def _declare_dead_letters(broker: KafkaBroker, payload_type: type[EventPayload]) -> None:
    """Declare the dead-letter topic of ``payload_type``'s topic, for the AsyncAPI document."""
    topic = dead_letter(payload_type.topic)
    broker.publisher(
        topic,
        title=f"{topic}:publish",
        description=(
            f"Records of {payload_type.topic} refused: not valid {payload_type.event_type} "
            "events, or not acceptable (the dlq-reason header says why)."
        ),
    )


def _span_attributes(envelope: Envelope[Any]) -> dict[str, str]:
    """What a consumer's span says of the event: its id, subject (e.g. the evidence), tenant."""
    return {
        "microcred.event.id": envelope.id,
        "microcred.event.type": envelope.type,
        "microcred.event.subject": envelope.subject,
        "microcred.tenant": envelope.tenant,
    }


async def _retried_on_failure(handling: Awaitable[None], topic: str, event_id: str) -> None:
    """Await a handler: a failure has the record retried after a pause; a refusal, dead-lettered."""
    try:
        await handling
    except RefusedEventError:
        raise
    except Exception as exc:
        log.exception("event.handler_failed", topic=topic, event_id=event_id)
        await asyncio.sleep(RETRY_PAUSE_SECONDS)
        raise HandlerFailedError(str(exc)) from exc


def subscribe(
    broker: KafkaBroker,
    payload_type: type[P],
    handler: Handler[P],
    *,
    group_id: str,
    consumers: int = 1,
) -> None:
    """Consume ``payload_type``'s topic with ``handler``; invalid records go to its dead letters.

    The consumer group starts from the earliest record, so nothing published before the group
    first joined is missed. The envelope model is the handler's declared payload, so FastStream
    validates it and the AsyncAPI document shows it. ``consumers`` above one joins that many
    consumers to the group from this process, each handling its partitions' records in order,
    so that one partition's wait for the database is another's turn.
    """
    topic = payload_type.topic
    # Declared so that the dead-letter topic appears in the AsyncAPI document.
    _declare_dead_letters(broker, payload_type)

    async def consume(envelope: Envelope[P], message: KafkaMessage) -> None:
        with consuming(topic, message.headers, **_span_attributes(envelope)):
            await _retried_on_failure(handler(envelope), topic, envelope.id)

    consume.__name__ = f"consume_{payload_type.__name__}"
    # The concrete envelope model, resolved here rather than from the generic signature.
    consume.__annotations__ = {
        "envelope": envelope_type(payload_type),
        "message": KafkaMessage,
        "return": None,
    }
    broker.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=decode_json,
        title=f"{topic}:{group_id}",
        description=(payload_type.__doc__ or "").strip().splitlines()[0],
        max_workers=consumers,
    )(consume)


TopicHandler = Callable[[Envelope[P], str], Awaitable[None]]


def subscribe_pattern(
    broker: KafkaBroker,
    payload_type: type[P],
    handler: TopicHandler[P],
    *,
    pattern: str,
    group_id: str,
) -> None:
    """Consume every topic matching ``pattern`` (one per institution) with ``handler``.

    The handler gets the record's topic too, since the topic says whose the record is. Topics
    created later are picked up at the next metadata refresh (``kafka_metadata_max_age_ms``).
    """
    _declare_dead_letters(broker, payload_type)

    async def consume(envelope: Envelope[P], message: KafkaMessage) -> None:
        record = message.raw_message
        record = record[0] if isinstance(record, tuple) else record
        with consuming(record.topic, message.headers, **_span_attributes(envelope)):
            await _retried_on_failure(handler(envelope, record.topic), record.topic, envelope.id)

    consume.__name__ = f"consume_{payload_type.__name__}"
    consume.__annotations__ = {
        "envelope": envelope_type(payload_type),
        "message": KafkaMessage,
        "return": None,
    }
    broker.subscriber(
        pattern=pattern,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=decode_json,
        title=f"{payload_type.topic}:{group_id}",
        description=(payload_type.__doc__ or "").strip().splitlines()[0],
    )(consume)
