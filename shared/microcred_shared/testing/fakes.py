"""In-memory stand-ins for the ports, for tests of handler logic."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from microcred_shared.contracts.envelope import Envelope


@dataclass
class RecordingPublisher:
    """Keeps what would have been published; ``events`` dedupes by id as consumers do."""

    published: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)
    dead_letters: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    failing: bool = False

    async def publish(self, envelope: Envelope[Any]) -> None:
        await self.publish_raw(envelope.topic, envelope.key(), envelope.to_bytes(), envelope.id)

    async def publish_raw(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        event_id: str,  # noqa: ARG002 - the id is inside value
        trace: Mapping[str, str] | None = None,  # noqa: ARG002 - no headers kept here
    ) -> None:
        if self.failing:
            raise ConnectionError("broker unavailable")
        self.published.append((topic, key, json.loads(value)))

    async def publish_dead_letter(self, topic: str, key: bytes, value: bytes, reason: str) -> None:  # noqa: ARG002 - the key is inside value
        if self.failing:
            raise ConnectionError("broker unavailable")
        self.dead_letters.append((topic, json.loads(value), reason))

    def events(self, topic: str) -> list[dict[str, Any]]:
        """Distinct events on ``topic`` (by id), in first-published order."""
        seen: dict[str, dict[str, Any]] = {}
        for published_topic, _, document in self.published:
            if published_topic == topic:
                seen.setdefault(document["id"], document)
        return list(seen.values())
