"""State change and event publication together, without multi-document transactions.

A handler writes the events it must publish *inside the same document* as the state they
describe (one atomic single-document write, which every MongoDB-protocol server guarantees), then
publishes them and marks them sent. If the process dies in between, the relay finds the unsent
events and publishes them later. An event may thus be published twice, never lost; its id is
fixed when it is written, so consumers dedupe it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from microcred_shared.contracts.envelope import Envelope
from microcred_shared.kafka import RawEventPublisher
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.tracing import trace_headers

log = get_logger(__name__)

OUTBOX_FIELD = "outbox"
PENDING_FIELD = "outbox_pending"
PENDING_SINCE_FIELD = "outbox_pending_since"

#: How long the relay leaves fresh events to the request that wrote them, so that the two do not
#: both publish them (harmless, but wasteful).
RELAY_GRACE_SECONDS = 5.0


def outbox_fields(envelopes: Iterable[Envelope[Any]]) -> Document:
    """Return the fields to store with a state document so that its events go out with it."""
    # The trace the events are written in, so that their records carry it however late they go.
    trace = trace_headers()
    entries = [
        {
            "id": e.id,
            "topic": e.topic,
            "key": e.key().decode(),
            "value": e.to_bytes().decode(),
            "sent": False,
            **({"trace": trace} if trace else {}),
        }
        for e in envelopes
    ]
    return {
        OUTBOX_FIELD: entries,
        PENDING_FIELD: bool(entries),
        PENDING_SINCE_FIELD: datetime.now(UTC),
    }


def append_to_outbox(envelope: Envelope[Any]) -> Document:
    """Return the update operators that add one more event to a document's outbox."""
    fields = outbox_fields([envelope])
    return {
        "$push": {OUTBOX_FIELD: fields[OUTBOX_FIELD][0]},
        "$set": {PENDING_FIELD: True, PENDING_SINCE_FIELD: fields[PENDING_SINCE_FIELD]},
    }


async def flush(
    collection: AsyncCollection[Document], document_id: Any, publisher: RawEventPublisher
) -> int:
    """Publish a document's unsent events in order, marking each sent; return how many."""
    document = await collection.find_one({"_id": document_id}, {OUTBOX_FIELD: 1})
    if document is None:
        return 0
    published = 0
    for entry in document.get(OUTBOX_FIELD, []):
        if entry["sent"]:
            continue
        await publisher.publish_raw(
            entry["topic"],
            entry["key"].encode(),
            entry["value"].encode(),
            entry["id"],
            entry.get("trace"),
        )
        await collection.update_one(
            {"_id": document_id, f"{OUTBOX_FIELD}.id": entry["id"]},
            {"$set": {f"{OUTBOX_FIELD}.$.sent": True}},
        )
        published += 1
    await collection.update_one(
        {"_id": document_id, OUTBOX_FIELD: {"$not": {"$elemMatch": {"sent": False}}}},
        {"$set": {PENDING_FIELD: False}},
    )
    return published


async def ensure_outbox_index(collection: AsyncCollection[Document]) -> None:
    await collection.create_index(PENDING_FIELD, sparse=True)


class OutboxRelay:
    """Publishes what a crash left unsent, from the collections that carry outboxes."""

    def __init__(
        self,
        collections: Sequence[AsyncCollection[Document]],
        publisher: RawEventPublisher,
        interval_seconds: float,
        grace_seconds: float = RELAY_GRACE_SECONDS,
    ) -> None:
        self._collections = collections
        self._publisher = publisher
        self._interval = interval_seconds
        self._grace = timedelta(seconds=grace_seconds)
        self._task: asyncio.Task[None] | None = None

    async def relay_once(self) -> int:
        published = 0
        settled = datetime.now(UTC) - self._grace
        for collection in self._collections:
            pending = {PENDING_FIELD: True, PENDING_SINCE_FIELD: {"$lte": settled}}
            async for document in collection.find(pending, {"_id": 1}):
                published += await flush(collection, document["_id"], self._publisher)
        if published:
            log.info("outbox.relayed", events=published)
        return published

    async def _run(self) -> None:
        while True:
            try:
                await self.relay_once()
            except Exception:
                log.warning("outbox.relay_failed", exc_info=True)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
