"""The reviewer on Kafka: one subscriber on the institution's requests, one publisher of decisions.

Delivery is at least once: a request's offset is committed only after its decision was
published (acks from all in-sync replicas), and a failure seeks back so the request comes again.
Redelivery is harmless because the decision id is derived from the institution and the evidence.

The reviewer's principal may read its requests and write its decisions, nothing more: a request
that is not a valid event, or is another institution's, is logged and skipped (it has no
dead-letter topic to write to).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.message import StreamMessage

from microcred_shared.contracts import InvalidEventError, parse_event
from microcred_shared.contracts.events import ReviewRequestedV1
from microcred_shared.contracts.topics import review_decisions, review_requests
from microcred_shared.kafka_auth import KafkaConnection
from rule_based_reviewer.rules import Rules
from rule_based_reviewer.settings import ReviewerSettings

log = logging.getLogger("rule_based_reviewer")

#: Pause before a request whose decision could not be published is tried again.
RETRY_PAUSE_SECONDS = 1.0
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


async def raw_body(message: StreamMessage[Any]) -> bytes:
    """Hand the record's bytes to the handler as they are: it parses them itself."""
    body: bytes = message.body
    return body


def build_broker(settings: ReviewerSettings) -> KafkaBroker:
    """The reviewer's broker with its subscriber and publisher (nothing connects yet)."""
    institution = settings.institution_id
    rules = Rules.of(institution, settings.trusted_providers, settings.reviewer_id)
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.consumer_group,
        security=KafkaConnection.from_settings(settings).faststream_security(),
        enable_idempotence=True,
        acks="all",
        allow_auto_create_topics=False,
        graceful_timeout=10.0,
        logger=logging.getLogger("rule_based_reviewer.kafka"),
        description=f"{institution}'s rule-based reviewer",
    )
    decisions = broker.publisher(
        review_decisions(institution),
        title="decisions",
        description="One decision per request, keyed by learner id.",
    )

    async def on_request(body: bytes) -> None:
        try:
            request = parse_event(body, ReviewRequestedV1)
        except InvalidEventError as invalid:
            log.warning("skipped a record that is not a review request: %s", invalid.reason)
            return
        decision = rules.decide(request, datetime.now(UTC))
        if decision is None:
            log.warning(
                "ignored a request of %s about evidence %s: not %s's to decide",
                request.tenant,
                request.data.evidence_id,
                institution,
            )
            return
        try:
            await decisions.publish(
                decision.to_bytes(),
                key=decision.key(),
                headers={"content-type": CONTENT_TYPE, "ce_id": decision.id},
            )
        except Exception:
            log.exception("could not publish the decision on %s", request.data.evidence_id)
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
            raise
        log.info(
            "%s evidence %s of learner %s (%s)",
            decision.data.decision,
            decision.data.evidence_id,
            decision.data.learner_id,
            request.data.provider,
        )

    broker.subscriber(
        review_requests(institution),
        group_id=settings.consumer_group,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=raw_body,
        title="requests",
        description="The platform's review requests for the institution's evidence.",
    )(on_request)
    return broker


def build_app(settings: ReviewerSettings) -> FastStream:
    return FastStream(build_broker(settings), logger=log)
