"""Counting failed attempts per client across every notifier instance (MongoDB, fixed windows).

Claim tokens carry 256 random bits, so guessing one is hopeless; the throttle makes trying
visibly expensive and caps one-time codes, whose six digits are not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase

from microcred_shared.mongo import Document


class ThrottledError(Exception):
    """Too many failures from one client in the current window."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many attempts; try again in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


@dataclass
class Throttle:
    database: AsyncDatabase[Document]
    limit: int
    window_seconds: int

    async def ensure_indexes(self) -> None:
        await self.database["throttle"].create_index("expires_at", expireAfterSeconds=0)

    def _window(self) -> tuple[int, int]:
        start = int(time.time()) // self.window_seconds * self.window_seconds
        return start, start + self.window_seconds - int(time.time())

    async def check(self, scope: str, client: str) -> None:
        """Refuse a client who already failed ``limit`` times in this window."""
        start, left = self._window()
        found = await self.database["throttle"].find_one({"_id": f"{scope}|{client}|{start}"})
        if found is not None and found["failures"] >= self.limit:
            raise ThrottledError(max(1, left))

    async def failed(self, scope: str, client: str) -> None:
        start, _ = self._window()
        await self.database["throttle"].update_one(
            {"_id": f"{scope}|{client}|{start}"},
            {
                "$inc": {"failures": 1},
                "$setOnInsert": {
                    "expires_at": datetime.fromtimestamp(start, UTC)
                    + timedelta(seconds=2 * self.window_seconds)
                },
            },
            upsert=True,
        )
