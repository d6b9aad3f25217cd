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
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from faststream import AckPolicy, BaseMiddleware
from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.usecase import DefaultPublisher
from faststream.message import StreamMessage
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import ValidationError

from microcred_shared.contracts import EventPayload
from microcred_shared.contracts.envelope import Envelope, envelope_type
from microcred_shared.contracts.topics import dead_letter
from microcred_shared.logging import get_logger
from microcred_shared.settings import ServiceSettings

log = get_logger(__name__)

P = TypeVar("P", bound=EventPayload)

#: Pause before a failed record is retried, so an outage is not hammered in a tight loop.
RETRY_PAUSE_SECONDS = 1.0

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


def _security(settings: ServiceSettings) -> BaseSecurity | None:
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    use_ssl = settings.kafka_security_protocol in {"SASL_SSL", "SSL"}
    ssl_context = None
    if use_ssl:
        import ssl  # noqa: PLC0415 - only when TLS is configured

        ssl_context = ssl.create_default_context()
    if settings.kafka_sasl_mechanism is None:
        return BaseSecurity(ssl_context=ssl_context, use_ssl=use_ssl)
    username = settings.kafka_sasl_username or ""
    password = (
        settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    )
    mechanism = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }[settings.kafka_sasl_mechanism]
    return mechanism(username, password, ssl_context=ssl_context, use_ssl=use_ssl)


def make_broker(settings: ServiceSettings, *, description: str = "") -> KafkaBroker:
    """Return the service's broker: idempotent producer, acks from all in-sync replicas."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"microcred-{settings.service_name}",
        enable_idempotence=True,
        acks="all",
        security=_security(settings),
        description=description or f"microcred {settings.service_name}",
        # A topic is created by deployment (or the embedded stack), never by a typo.
        allow_auto_create_topics=False,
        graceful_timeout=10.0,
        middlewares=[DeadLetterMiddleware],
        # Through the standard library, so FastStream's lines get the service's log format.
        logger=logging.getLogger(f"microcred.{settings.service_name}.kafka"),
    )


class RawEventPublisher(Protocol):
    """Port: publish an already serialised event (what the outbox keeps)."""

    async def publish_raw(self, topic: str, key: bytes, value: bytes, event_id: str) -> None: ...


class KafkaEventPublisher:
    """Publishes envelopes on their topics, keyed by learner, through declared publishers.

    Declaring one publisher per payload type is what puts the topics and schemas into the
    service's AsyncAPI document.
    """

    def __init__(self, broker: KafkaBroker, payload_types: Sequence[type[EventPayload]]) -> None:
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

    async def publish_raw(self, topic: str, key: bytes, value: bytes, event_id: str) -> None:
        publisher = self._publishers.get(topic)
        if publisher is None:
            raise LookupError(f"this service does not publish on {topic}")
        await publisher.publish(
            value,
            key=key,
            headers={"content-type": CLOUDEVENTS_CONTENT_TYPE, "ce_id": event_id},
        )


Handler = Callable[[Envelope[P]], Awaitable[None]]


class HandlerFailedError(Exception):
    """A handler failed on a valid event; the record is retried, never dead-lettered."""


async def decode_json(message: StreamMessage[Any]) -> Any:
    """Decode every record as JSON, whatever its content type; a failure dead-letters it."""
    return json.loads(message.body)


def describe_invalid(error: Exception) -> str:
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
        except (ValidationError, json.JSONDecodeError, UnicodeDecodeError) as invalid:
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
                headers={
                    "dlq-reason": reason[:4000],
                    "dlq-original-topic": record.topic,
                    "dlq-original-partition": str(record.partition),
                    "dlq-original-offset": str(record.offset),
                },
            )
            return None


def subscribe(
    broker: KafkaBroker,
    payload_type: type[P],
    handler: Handler[P],
    *,
    group_id: str,
) -> None:
    """Consume ``payload_type``'s topic with ``handler``; invalid records go to its dead letters.

    The consumer group starts from the earliest record, so nothing published before the group
    first joined is missed. The envelope model is the handler's declared payload, so FastStream
    validates it and the AsyncAPI document shows it.
    """
    topic = payload_type.topic
    # Declared so that the dead-letter topic appears in the AsyncAPI document.
    broker.publisher(
        dead_letter(topic),
        title=f"{dead_letter(topic)}:publish",
        description=f"Records of {topic} that are not valid {payload_type.event_type} events.",
    )

    async def consume(envelope: Envelope[P]) -> None:
        try:
            await handler(envelope)
        except Exception as exc:
            log.exception("event.handler_failed", topic=topic, event_id=envelope.id)
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            raise HandlerFailedError(str(exc)) from exc

    consume.__name__ = f"consume_{payload_type.__name__}"
    # The concrete envelope model, resolved here rather than from the generic signature.
    consume.__annotations__ = {"envelope": envelope_type(payload_type), "return": None}
    broker.subscriber(
        topic,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=decode_json,
        title=f"{topic}:{group_id}",
        description=(payload_type.__doc__ or "").strip().splitlines()[0],
    )(consume)
