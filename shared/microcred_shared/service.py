"""The runtime every service shares: connections, the outbox relay and the HTTP app around them.

Nothing connects at import time: a service's ``bootstrap`` builds a ``Runtime`` from settings,
and the FastAPI lifespan starts it and stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import PlainTextResponse
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from microcred_shared.contracts import EventPayload
from microcred_shared.http import ReadinessCheck, health_router, install_problem_handlers
from microcred_shared.kafka import Handler, KafkaEventPublisher, P, make_broker, subscribe
from microcred_shared.logging import get_logger
from microcred_shared.metrics import REGISTRY, LagProbe, Subscription
from microcred_shared.mongo import Document, make_mongo_client, ping, service_database
from microcred_shared.outbox import OutboxRelay
from microcred_shared.s3 import ObjectStore
from microcred_shared.settings import ServiceSettings
from microcred_shared.tracing import untraced

log = get_logger(__name__)

Hook = Callable[[], Awaitable[None]]

VERSION = "0.1.0"


@dataclass(frozen=True)
class PeriodicTask:
    """Background work a service repeats while it runs (a failed round is logged and retried)."""

    name: str
    interval_seconds: float
    run: Hook

    async def loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.run()
            except Exception:
                log.warning("periodic.failed", task=self.name, exc_info=True)


@dataclass
class Runtime:
    """A service's connections and background work, started and stopped as one."""

    settings: ServiceSettings
    broker: KafkaBroker
    publisher: KafkaEventPublisher
    mongo: AsyncMongoClient[Document]
    database: AsyncDatabase[Document]
    relay: OutboxRelay
    object_store: ObjectStore | None = None
    on_start: Sequence[Hook] = ()
    extra_checks: dict[str, ReadinessCheck] = field(default_factory=dict)
    periodic: Sequence[PeriodicTask] = ()
    _running: list[asyncio.Task[None]] = field(default_factory=list)

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        async def kafka() -> None:
            if not await self.broker.ping(timeout=2.0):
                raise ConnectionError("broker unreachable")

        async def mongodb() -> None:
            await ping(self.mongo)

        checks: dict[str, ReadinessCheck] = {"kafka": kafka, "mongodb": mongodb}
        if self.object_store is not None:
            checks["s3"] = self.object_store.ping
        checks.update(self.extra_checks)
        return checks

    async def start(self) -> None:
        for hook in self.on_start:
            await hook()
        await self.broker.start()
        # The relay's first round publishes what a previous run left unsent, then it keeps
        # watching for what a failed publish leaves behind.
        self.relay.start()
        self._running.extend(asyncio.create_task(t.loop(), name=t.name) for t in self.periodic)
        log.info("service.started", kafka=self.settings.kafka_bootstrap_servers)

    async def stop(self) -> None:
        for task in self._running:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._running.clear()
        await self.relay.stop()
        await self.broker.stop()
        await self.mongo.close()
        log.info("service.stopped")


@dataclass
class Wiring:
    """A service's connections, built from its settings; nothing is opened until the app starts."""

    settings: ServiceSettings
    broker: KafkaBroker
    publisher: KafkaEventPublisher
    mongo: AsyncMongoClient[Document]
    database: AsyncDatabase[Document]
    #: What ``subscribe`` subscribed: the consumer lag metric's topics and groups.
    subscriptions: list[Subscription] = field(default_factory=list)

    def subscribe(self, payload_type: type[P], handler: Handler[P]) -> None:
        """Consume ``payload_type`` in the service's consumer group for that topic.

        One group per service and topic: a service's consumers of different topics then never
        make each other rebalance when one of them joins or leaves.
        """
        group = consumer_group(self.settings.consumer_group, payload_type.topic)
        subscribe(
            self.broker,
            payload_type,
            handler,
            group_id=group,
            consumers=self.settings.kafka_consumers_per_topic,
        )
        self.subscriptions.append(Subscription(payload_type.topic, group))

    def app(
        self,
        *,
        title: str,
        description: str,
        outbox: Sequence[AsyncCollection[Document]],
        routers: Sequence[APIRouter] = (),
        object_store: ObjectStore | None = None,
        on_start: Sequence[Hook] = (),
        extra_checks: dict[str, ReadinessCheck] | None = None,
        periodic: Sequence[PeriodicTask] = (),
    ) -> FastAPI:
        """The service's app; ``outbox`` names the collections whose documents carry events."""
        runtime = Runtime(
            settings=self.settings,
            broker=self.broker,
            publisher=self.publisher,
            mongo=self.mongo,
            database=self.database,
            relay=OutboxRelay(outbox, self.publisher, self.settings.outbox_relay_interval_seconds),
            object_store=object_store,
            on_start=on_start,
            extra_checks=extra_checks or {},
            periodic=[*periodic, self._lag_probe()],
        )
        return create_app(runtime, title=title, description=description, routers=routers)

    def _lag_probe(self) -> PeriodicTask:
        probe = LagProbe(self.settings, tuple(self.subscriptions))
        return PeriodicTask(
            "consumer-lag", self.settings.metrics_lag_interval_seconds, probe.refresh
        )


def consumer_group(service_group: str, topic: str) -> str:
    return f"{service_group}.{topic}"


def wire(
    settings: ServiceSettings, *, publishes: Sequence[type[EventPayload]], description: str
) -> Wiring:
    """Build a service's broker (publishing ``publishes``), database client and database."""
    broker = make_broker(settings, description=description)
    mongo = make_mongo_client(settings)
    return Wiring(
        settings=settings,
        broker=broker,
        publisher=KafkaEventPublisher(broker, publishes),
        mongo=mongo,
        database=service_database(mongo, settings),
    )


def create_app(
    runtime: Runtime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version=VERSION,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry: a span per request (continuing a caller's traceparent),
        # on the tracer provider ``configure_tracing`` sets; metrics are Prometheus's here.
        telemetry={
            "tracing": True,
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            "exclude": untraced,
        },
    )
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.include_router(health_router(runtime.readiness_checks()))

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics: events handled, failed, dead-lettered, consumer lag, e-mails.",
        response_class=PlainTextResponse,
    )
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/asyncapi.json", tags=["events"], summary="The service's topics as AsyncAPI 3.0.")
    async def asyncapi() -> dict[str, Any]:
        specification = AsyncAPI(
            runtime.broker, title=title, version=VERSION, description=description
        )
        document: dict[str, Any] = specification.to_specification().to_jsonable()
        return document

    for router in routers:
        app.include_router(router)
    return app
