"""pytest fixtures over real servers: the stack once per session, fresh namespaces per test.

Loaded by the workspace's pytest configuration (``-p microcred_shared.testing.plugin``).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from microcred_shared.mongo import Document
from microcred_shared.s3 import ObjectStore, make_s3_client
from microcred_shared.settings import S3Settings
from microcred_shared.stack import control
from microcred_shared.stack.components import ensure_topics
from microcred_shared.stack.config import SERVICES, StackConfig
from microcred_shared.testing.otlp import OtlpReceiver
from microcred_shared.testing.servers import Servers, free_ports_config, servers_for_session


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """Kafka, a MongoDB-protocol server, S3 and SMTP: real servers, once per session."""
    yield from servers_for_session()


@pytest.fixture(scope="session")
async def topics_ready(servers: Servers) -> None:
    await ensure_topics(servers.kafka, partitions=3)


@dataclass(frozen=True)
class Platform:
    """The five services running as processes against the session's servers."""

    servers: Servers
    config: StackConfig
    urls: dict[str, str]
    #: Where the five services export their traces.
    traces: OtlpReceiver

    def database_name(self, service: str) -> str:
        return f"microcred_{service}"


@pytest.fixture(scope="session")
def platform(servers: Servers, topics_ready: None) -> Iterator[Platform]:  # noqa: ARG001
    """All five services, started once per session through ``microcred``'s supervisor.

    They export their traces to a receiver in this process (``Platform.traces``).
    """
    scratch = None if servers.stack else Path(tempfile.mkdtemp(prefix="microcred-services-"))
    config = servers.stack or free_ports_config(scratch or Path())
    traces = OtlpReceiver()
    traces.start()
    try:
        control.start_group(config, "services", env={**servers.platform_env(), **traces.env()})
        yield Platform(
            servers=servers,
            config=config,
            urls={service: config.service_url(service) for service in SERVICES},
            traces=traces,
        )
    finally:
        control.stop_group(config, "services")
        traces.stop()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
async def mongo_client(servers: Servers) -> AsyncIterator[AsyncMongoClient[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def database(
    mongo_client: AsyncMongoClient[Document],
) -> AsyncIterator[AsyncDatabase[Document]]:
    """A database of its own for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    try:
        yield mongo_client[name]
    finally:
        await mongo_client.drop_database(name)


@pytest.fixture
def s3_settings(servers: Servers) -> S3Settings:
    return S3Settings(
        s3_endpoint_url=servers.s3_endpoint,
        s3_access_key=servers.s3_access_key,
        s3_secret_key=servers.s3_secret_key,  # type: ignore[arg-type]
        s3_bucket=f"test-{uuid.uuid4().hex[:12]}",
    )


@pytest.fixture
async def object_store(s3_settings: S3Settings) -> ObjectStore:
    """A bucket of its own for one test."""
    store = ObjectStore(make_s3_client(s3_settings), s3_settings.s3_bucket)
    await store.ensure_bucket()
    return store


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Run in-memory tests first, then one-server tests, then the whole platform."""
    order = {"unit": 0, "integration": 1, "e2e": 2}

    def rank(item: Any) -> int:
        marks = {m.name for m in item.iter_markers()}
        return min((order[m] for m in marks if m in order), default=0)

    items.sort(key=rank)
