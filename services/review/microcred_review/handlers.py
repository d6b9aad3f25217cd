"""Review's use cases: queue what intake submits, record evaluators' decisions as events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_review.domain import DecisionRefusedError, DecisionRequest, reviewed_event
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import EvidenceSubmittedV1, EvidenceWithdrawnV1
from microcred_shared.http import ProblemError
from microcred_shared.kafka import RawEventPublisher
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import append_to_outbox, ensure_outbox_index, flush

log = get_logger(__name__)

SOURCE = "/microcred/review"


@dataclass
class Review:
    database: AsyncDatabase[Document]
    publisher: RawEventPublisher

    @property
    def queue(self) -> Any:
        return self.database["queue"]

    async def ensure_indexes(self) -> None:
        await self.queue.create_index(
            [("institution_id", ASCENDING), ("status", ASCENDING), ("queued_at", ASCENDING)]
        )
        await ensure_outbox_index(self.queue)

    async def on_evidence_submitted(self, envelope: Envelope[EvidenceSubmittedV1]) -> None:
        """Queue the evidence for an evaluator; a redelivered event finds it queued already."""
        try:
            await self.queue.insert_one(
                {
                    "_id": envelope.data.evidence_id,
                    "institution_id": envelope.tenant,
                    "submitted": envelope.data.model_dump(mode="json"),
                    "status": "pending",
                    "queued_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            return
        log.info("review.queued", evidence_id=envelope.data.evidence_id)

    async def on_evidence_withdrawn(self, envelope: Envelope[EvidenceWithdrawnV1]) -> None:
        """Drop withdrawn evidence from the queue, unless an evaluator decided on it first."""
        await self.queue.update_one(
            {
                "_id": envelope.data.evidence_id,
                "institution_id": envelope.tenant,
                "status": "pending",
            },
            {"$set": {"status": "withdrawn", "withdrawn_at": envelope.data.withdrawn_at}},
        )

    async def pending(self, institution_id: str, limit: int) -> list[Document]:
        cursor = (
            self.queue.find({"institution_id": institution_id, "status": "pending"}, {"outbox": 0})
            .sort("queued_at", ASCENDING)
            .limit(limit)
        )
        return [d async for d in cursor]

    async def item(self, institution_id: str, evidence_id: str) -> Document | None:
        document: Document | None = await self.queue.find_one(
            {"_id": evidence_id, "institution_id": institution_id}, {"outbox": 0}
        )
        return document

    async def decide(
        self, institution_id: str, evidence_id: str, request: DecisionRequest
    ) -> Document:
        """Record the decision and its event in one write; only a pending item can be decided."""
        item = await self.item(institution_id, evidence_id)
        if item is None:
            raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown evidence", evidence_id)
        if item["status"] == "withdrawn":
            raise ProblemError(HTTPStatus.CONFLICT, "Withdrawn", "the learner withdrew it")
        if item["status"] != "pending":
            if item["decision"]["request"] == request.model_dump(mode="json"):
                return item["decision"]  # type: ignore[no-any-return]  # a retried request
            raise ProblemError(HTTPStatus.CONFLICT, "Already decided", evidence_id)
        submitted = EvidenceSubmittedV1.model_validate(item["submitted"])
        decision_id = str(uuid.uuid4())
        try:
            payload = reviewed_event(submitted, request, decision_id, datetime.now(UTC))
        except DecisionRefusedError as refused:
            raise ProblemError(
                HTTPStatus.UNPROCESSABLE_ENTITY, "Decision refused", str(refused)
            ) from refused
        event = Envelope.wrap(
            payload,
            source=SOURCE,
            subject=evidence_id,
            tenant=institution_id,
            event_id=deterministic_event_id("evidence-reviewed", decision_id),
            time=payload.decided_at,
        )
        decision = {
            "id": decision_id,
            "decision": payload.decision,
            "approved_hours": str(payload.approved_hours),
            "reason": payload.reason,
            "evaluator_id": payload.evaluator_id,
            "decided_at": payload.decided_at,
            "request": request.model_dump(mode="json"),
        }
        update = append_to_outbox(event)
        update["$set"].update({"status": "decided", "decision": decision})
        result = await self.queue.update_one(
            {"_id": evidence_id, "institution_id": institution_id, "status": "pending"}, update
        )
        if result.modified_count != 1:
            raise ProblemError(HTTPStatus.CONFLICT, "Already decided", evidence_id)
        try:
            await flush(self.queue, evidence_id, self.publisher)
        except Exception:
            log.warning("review.publish_deferred", evidence_id=evidence_id, exc_info=True)
        log.info("review.decided", evidence_id=evidence_id, decision=payload.decision)
        return decision
