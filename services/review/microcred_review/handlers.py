"""Review's use cases: queue what intake submits, record evaluators' decisions as events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_review.domain import (
    CLAIM_TTL,
    DecisionRefusedError,
    DecisionRequest,
    DecisionTimes,
    ReversalRequest,
    decision_times,
    reversal_event,
    reviewed_event,
)
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    EvidenceWithdrawnV1,
)
from microcred_shared.http import ProblemError
from microcred_shared.kafka import RawEventPublisher
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import append_to_outbox, ensure_outbox_index, flush

log = get_logger(__name__)

SOURCE = "/microcred/review"
HIDDEN = {"outbox": 0, "outbox_pending": 0, "outbox_pending_since": 0}


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
                    "claim": None,
                    "audit": [audit_entry("queued", "intake", datetime.now(UTC))],
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

    async def pending(
        self,
        institution_id: str,
        limit: int,
        competence_id: str | None = None,
        learner_id: str | None = None,
        older_than: timedelta | None = None,
    ) -> list[Document]:
        query: Document = {"institution_id": institution_id, "status": "pending"}
        if competence_id:
            query["submitted.competence.id"] = competence_id
        if learner_id:
            query["submitted.learner_id"] = learner_id
        if older_than is not None:
            query["queued_at"] = {"$lte": datetime.now(UTC) - older_than}
        cursor = self.queue.find(query, HIDDEN).sort("queued_at", ASCENDING).limit(limit)
        return [d async for d in cursor]

    async def item(self, institution_id: str, evidence_id: str) -> Document | None:
        document: Document | None = await self.queue.find_one(
            {"_id": evidence_id, "institution_id": institution_id}, HIDDEN
        )
        return document

    async def _existing(self, institution_id: str, evidence_id: str) -> Document:
        item = await self.item(institution_id, evidence_id)
        if item is None:
            raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown evidence", evidence_id)
        return item

    async def claim(self, institution_id: str, evidence_id: str, evaluator_id: str) -> Document:
        """Reserve an item for one evaluator for a while, so that no one else reviews it too."""
        item = await self._existing(institution_id, evidence_id)
        if item["status"] != "pending":
            raise ProblemError(HTTPStatus.CONFLICT, "Not pending", f"it is {item['status']}")
        now = datetime.now(UTC)
        result = await self.queue.update_one(
            {
                "_id": evidence_id,
                "institution_id": institution_id,
                "status": "pending",
                "$or": [
                    {"claim": None},
                    {"claim.by": evaluator_id},
                    {"claim.until": {"$lte": now}},
                ],
            },
            {
                "$set": {"claim": {"by": evaluator_id, "until": now + CLAIM_TTL}},
                "$push": {"audit": audit_entry("claimed", evaluator_id, now)},
            },
        )
        if result.modified_count != 1:
            raise ProblemError(
                HTTPStatus.CONFLICT, "Claimed", "another evaluator is reviewing this evidence"
            )
        return await self._existing(institution_id, evidence_id)

    async def release(self, institution_id: str, evidence_id: str, evaluator_id: str) -> Document:
        await self._existing(institution_id, evidence_id)
        await self.queue.update_one(
            {"_id": evidence_id, "institution_id": institution_id, "claim.by": evaluator_id},
            {
                "$set": {"claim": None},
                "$push": {"audit": audit_entry("released", evaluator_id, datetime.now(UTC))},
            },
        )
        return await self._existing(institution_id, evidence_id)

    async def decide(
        self, institution_id: str, evidence_id: str, request: DecisionRequest, evaluator_id: str
    ) -> Document:
        """Record the decision and its event in one write; only a pending item can be decided."""
        item = await self._existing(institution_id, evidence_id)
        if item["status"] == "withdrawn":
            raise ProblemError(HTTPStatus.CONFLICT, "Withdrawn", "the learner withdrew it")
        if item["status"] != "pending":
            same = item["decision"]["request"] == request.model_dump(mode="json")
            if same and item["decision"]["evaluator_id"] == evaluator_id:
                return item["decision"]  # type: ignore[no-any-return]  # a retried request
            raise ProblemError(HTTPStatus.CONFLICT, "Already decided", evidence_id)
        claim = item.get("claim")
        now = datetime.now(UTC)
        if claim and claim["by"] != evaluator_id and claim["until"] > now:
            raise ProblemError(
                HTTPStatus.CONFLICT, "Claimed", "another evaluator is reviewing this evidence"
            )
        submitted = EvidenceSubmittedV1.model_validate(item["submitted"])
        if submitted.learner_id == evaluator_id:
            raise ProblemError(
                HTTPStatus.FORBIDDEN, "Own evidence", "no one decides on their own evidence"
            )
        decision_id = str(uuid.uuid4())
        try:
            payload = reviewed_event(submitted, request, decision_id, now, evaluator_id)
        except DecisionRefusedError as refused:
            raise ProblemError(
                HTTPStatus.UNPROCESSABLE_ENTITY, "Decision refused", str(refused)
            ) from refused
        decision = {
            "id": decision_id,
            "decision": payload.decision,
            "approved_hours": str(payload.approved_hours),
            "reason": payload.reason,
            "evaluator_id": evaluator_id,
            "decided_at": now,
            "request": request.model_dump(mode="json"),
        }
        await self._record(
            institution_id, evidence_id, "pending", "decided", payload, decision, evaluator_id
        )
        log.info("review.decided", evidence_id=evidence_id, decision=payload.decision)
        return decision

    async def reverse(
        self, institution_id: str, evidence_id: str, request: ReversalRequest, admin_id: str
    ) -> Document:
        """Overturn an approval; accounting takes the hours back."""
        item = await self._existing(institution_id, evidence_id)
        if item["status"] != "decided" or item["decision"]["decision"] != "approved":
            raise ProblemError(
                HTTPStatus.CONFLICT, "Nothing to reverse", "only an approval can be reversed"
            )
        submitted = EvidenceSubmittedV1.model_validate(item["submitted"])
        now = datetime.now(UTC)
        decision_id = str(uuid.uuid4())
        payload = reversal_event(submitted, request.reason, decision_id, now, admin_id)
        reversal = {
            "id": decision_id,
            "decision": "reversed",
            "approved_hours": "0",
            "reason": request.reason,
            "evaluator_id": admin_id,
            "decided_at": now,
        }
        await self._record(
            institution_id, evidence_id, "decided", "reversed", payload, reversal, admin_id
        )
        return reversal

    async def _record(
        self,
        institution_id: str,
        evidence_id: str,
        expected: str,
        status: str,
        payload: EvidenceReviewedV1,
        decision: Document,
        actor: str,
    ) -> None:
        event = Envelope.wrap(
            payload,
            source=SOURCE,
            subject=evidence_id,
            tenant=institution_id,
            event_id=deterministic_event_id("evidence-reviewed", payload.decision_id),
            time=payload.decided_at,
        )
        update = append_to_outbox(event)
        field = "reversal" if status == "reversed" else "decision"
        update["$set"].update({"status": status, field: decision, "claim": None})
        update["$push"]["audit"] = audit_entry(
            payload.decision, actor, payload.decided_at, payload.reason
        )
        result = await self.queue.update_one(
            {"_id": evidence_id, "institution_id": institution_id, "status": expected}, update
        )
        if result.modified_count != 1:
            raise ProblemError(HTTPStatus.CONFLICT, "Already decided", evidence_id)
        try:
            await flush(self.queue, evidence_id, self.publisher)
        except Exception:
            log.warning("review.publish_deferred", evidence_id=evidence_id, exc_info=True)

    async def decision_times(self, institution_id: str) -> DecisionTimes:
        waits = [
            item["decision"]["decided_at"] - item["queued_at"]
            async for item in self.queue.find(
                {"institution_id": institution_id, "decision": {"$exists": True}},
                {"queued_at": 1, "decision.decided_at": 1},
            )
        ]
        pending = await self.queue.count_documents(
            {"institution_id": institution_id, "status": "pending"}
        )
        return decision_times(waits, pending)


def audit_entry(action: str, actor: str, at: datetime, detail: str = "") -> Document:
    return {"action": action, "by": actor, "at": at, "detail": detail}
