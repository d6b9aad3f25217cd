"""Running one service's app in the test's event loop, against the session's real servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from microcred_shared.testing.servers import Servers


def service_env(servers: Servers, service: str) -> dict[str, object]:
    """Settings (as constructor arguments) giving a service its own database for one test."""
    return {
        "environment": "test",
        # As the services connect: the platform's principal, where Kafka authenticates.
        **servers.kafka_platform.settings_values(),
        "mongodb_uri": servers.mongodb_uri,
        "mongodb_database": f"test_{service}_{uuid.uuid4().hex[:10]}",
        # A group of its own: joining the running platform's group would rebalance it. It keeps
        # the platform's prefix, the only groups the platform's principal may use.
        "consumer_group": f"microcred-test-{service}-{uuid.uuid4().hex[:10]}",
        "outbox_relay_interval_seconds": 0.5,
    }


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (broker, database, relay) and give an HTTP client to it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://service") as client:
            yield client
