"""Prometheus metrics of a service, served at ``GET /metrics``.

FastStream's Kafka middleware counts what each subscriber received and handled, how long it
took and what failed, and what was published (``faststream_*``). The platform adds what that
cannot know: records sent to a dead-letter topic, how far each consumer group is behind its
topic, and the e-mails sent and given up (``microcred_*``).

One registry per process: a service is one process, and the tests that run several services
in one process then share the counters rather than clash over their names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry, Counter, Gauge

from microcred_shared.kafka_auth import KafkaConnection
from microcred_shared.settings import ServiceSettings

REGISTRY = CollectorRegistry()

DEAD_LETTERED = Counter(
    "microcred_dead_lettered_total",
    "Records sent to a dead-letter topic, by the topic they came from",
    ["topic"],
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "microcred_consumer_lag_records",
    "Records of the topic its consumer group has not committed yet (all partitions)",
    ["topic", "group"],
    registry=REGISTRY,
)
EMAILS_SENT = Counter(
    "microcred_emails_sent_total",
    "E-mails the relay accepted, by kind",
    ["kind"],
    registry=REGISTRY,
)
EMAILS_FAILED = Counter(
    "microcred_emails_failed_total",
    "E-mails given up, by kind and whether the relay refused them for good",
    ["kind", "permanent"],
    registry=REGISTRY,
)


def kafka_middleware(settings: ServiceSettings) -> KafkaPrometheusMiddleware:
    """FastStream's metrics of the service's subscribers and publishes, labelled with it."""
    return KafkaPrometheusMiddleware(
        registry=REGISTRY, app_name=f"microcred-{settings.service_name}"
    )


@dataclass(frozen=True)
class Subscription:
    topic: str
    group: str


@dataclass
class LagProbe:
    """Refreshes ``microcred_consumer_lag_records`` for the service's subscriptions.

    The lag is the log's end minus the group's committed offset, summed over the partitions
    the group has committed on: what an operator's ``kafka-consumer-groups --describe`` says.
    """

    settings: ServiceSettings
    subscriptions: Sequence[Subscription]

    async def refresh(self) -> None:
        if not self.subscriptions:
            return
        connection = KafkaConnection.from_settings(self.settings).aiokafka_options()
        admin = AIOKafkaAdminClient(
            **connection,
            client_id=f"microcred-{self.settings.service_name}-lag",
            request_timeout_ms=10_000,
        )
        ends = AIOKafkaConsumer(
            **connection,
            client_id=f"microcred-{self.settings.service_name}-lag",
            group_id=None,
            enable_auto_commit=False,
        )
        await admin.start()
        await ends.start()
        try:
            for subscription in self.subscriptions:
                committed = await admin.list_consumer_group_offsets(subscription.group)
                mine = {
                    tp: meta.offset
                    for tp, meta in committed.items()
                    if tp.topic == subscription.topic and meta.offset >= 0
                }
                end = await ends.end_offsets(list(mine)) if mine else {}
                lag = sum(max(0, end[tp] - offset) for tp, offset in mine.items() if tp in end)
                CONSUMER_LAG.labels(subscription.topic, subscription.group).set(lag)
        finally:
            await asyncio.gather(ends.stop(), admin.close(), return_exceptions=True)


__all__ = [
    "CONSUMER_LAG",
    "DEAD_LETTERED",
    "EMAILS_FAILED",
    "EMAILS_SENT",
    "REGISTRY",
    "LagProbe",
    "Subscription",
    "kafka_middleware",
]
