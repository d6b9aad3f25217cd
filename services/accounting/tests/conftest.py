"""Accounting on the session's real database, with what it publishes kept in memory."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from microcred_accounting.handlers import Accounting
from microcred_shared.testing.fakes import RecordingPublisher


@pytest.fixture
async def accounting(database: AsyncDatabase[Any]) -> Accounting:
    service = Accounting(database, RecordingPublisher())
    await service.ensure_indexes()
    return service
