"""Review's handlers wired together in memory, on a real database, for tests of their logic.

What review publishes is handed straight to review's own consumers, as the broker would: review
requests to the built-in reviewer, decisions to the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from microcred_review.gateway import Gateway
from microcred_review.institutions import Institutions
from microcred_review.workspace import Workspace
from microcred_shared.contracts import Envelope, envelope_type, topics
from microcred_shared.contracts.events import (
    EvidenceSubmittedV1,
    ReviewDecisionV1,
    ReviewRequestedV1,
)
from microcred_shared.kafka import RefusedEventError
from microcred_shared.mongo import Document
from microcred_shared.testing.fakes import RecordingPublisher


@dataclass
class Rig:
    workspace: Workspace
    gateway: Gateway
    institutions: Institutions
    publisher: RecordingPublisher
    created_topics: list[str]
    refused: list[str] = field(default_factory=list)
    _delivered: int = 0

    async def pump(self) -> None:
        """Deliver everything published since the last pump to review's own consumers."""
        while self._delivered < len(self.publisher.published):
            topic, _, document = self.publisher.published[self._delivered]
            self._delivered += 1
            await self.deliver(topic, document)

    async def deliver(self, topic: str, document: Document) -> None:
        """Hand one record to the consumer of ``topic``; a refusal is kept, as a DLQ would."""
        if topic.endswith(topics.REVIEW_REQUESTS_SUFFIX):
            request = envelope_type(ReviewRequestedV1).model_validate(document)
            await self.workspace.on_review_requested(request, topic)
        elif topic.endswith(topics.REVIEW_DECISIONS_SUFFIX):
            decision = envelope_type(ReviewDecisionV1).model_validate(document)
            try:
                await self.gateway.on_review_decision(decision, topic)
            except RefusedEventError as refused:
                self.refused.append(refused.reason)

    async def submit(self, envelope: Envelope[EvidenceSubmittedV1]) -> None:
        await self.gateway.on_evidence_submitted(envelope)
        await self.pump()

    def reviewed(self) -> list[dict[str, Any]]:
        """The evidence-reviewed events published so far (deduplicated by id)."""
        return self.publisher.events(topics.EVIDENCE_REVIEWED)


async def rig(database: AsyncDatabase[Document]) -> Rig:
    publisher = RecordingPublisher()
    created: list[str] = []

    async def create_topics(names: tuple[str, ...]) -> None:
        created.extend(names)

    institutions = Institutions(database, create_topics)
    workspace = Workspace(database, publisher, institutions)
    gateway = Gateway(database, publisher, institutions, workspace)
    await workspace.ensure_indexes()
    await gateway.ensure_indexes()
    return Rig(workspace, gateway, institutions, publisher, created)
