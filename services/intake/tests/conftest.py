"""Fixtures of intake's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from microcred_intake.testing import Harness, harness
from microcred_shared.testing.servers import Servers


@pytest.fixture
async def intake(servers: Servers, topics_ready: None) -> AsyncIterator[Harness]:
    async with harness(servers, max_file_bytes=64 * 1024) as running_intake:
        yield running_intake
