"""Fixtures of the security tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from microcred_intake.testing import Harness, harness
from microcred_shared.testing.servers import Servers
from services.notifier.tests.conftest import Harness as NotifierHarness
from services.notifier.tests.conftest import start

#: A small file limit, so that "over the limit" stays cheap (the mechanism is the same at 20 MiB).
MAX_FILE_BYTES = 64 * 1024


@pytest.fixture
async def intake(servers: Servers, topics_ready: None) -> AsyncIterator[Harness]:
    """Intake on the real servers, an institution and a verified learner."""
    async with harness(servers, max_file_bytes=MAX_FILE_BYTES) as running_intake:
        yield running_intake


@asynccontextmanager
async def notifier_running(servers: Servers) -> AsyncIterator[NotifierHarness]:
    """The notifier's app on the real servers, trusting ``LocalKeySet``; the issuer stood in."""
    async for running in start(servers):
        yield running


@pytest.fixture
async def notifier(servers: Servers, topics_ready: None) -> AsyncIterator[NotifierHarness]:
    async with notifier_running(servers) as running:
        yield running
