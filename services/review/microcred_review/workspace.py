"""The built-in reviewer: the evaluators' workspace.

It takes the review requests of institutions in ``builtin`` mode from their request topics and
answers on their decision topics, exactly as an institution's own review service would; the
gateway then treats its decisions like anyone else's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Literal

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
    outcome,
    reversal,
)
from microcred_review.institutions import Institutions
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import EvidenceRecord, ReviewDecisionV1, ReviewRequestedV1
from microcred_shared.contracts.topics import institution_of_review_topic
from microcred_shared.http import ProblemError
from microcred_shared.kafka import RawEventPublisher
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import append_to_outbox, ensure_outbox_index, flush
from microcred_shared.tracing import continuing, trace_headers

log = get_logger(__name__)

SOURCE = "/microcred/review/workspace"
HIDDEN = {"outbox": 0, "outbox_pending": 0, "outbox_pending_since": 0}
OPEN = ("pending", "awaiting_second_approval")
#: Where an item keeps the trace context its evidence came with (not shown by the API).
TRACE_FIELD = "trace"
QueueStatus = Literal[
    "open",
    "pending",
    "awaiting_second_approval",
    "decided",
    "reversed",
    "withdrawn",
    "refused",
    "handed_over",
]


@dataclass
class Workspace:
    database: AsyncDatabase[Document]
    publisher: RawEventPublisher
    institutions: Institutions

    @property
    def queue(self) -> Any:
        return self.database["queue"]

    async def ensure_indexes(self) -> None:
        await self.queue.create_index(
            [("institution_id", ASCENDING), ("status", ASCENDING), ("queued_at", ASCENDING)]
        )
        await ensure_outbox_index(self.queue)

    async def on_review_requested(self, envelope: Envelope[ReviewRequestedV1], topic: str) -> None:
        """Queue a request for the institution's evaluators; a redelivery finds it queued."""
        request = envelope.data
        institution = institution_of_review_topic(topic)
        if institution != envelope.tenant:
            # A reviewer decides only on its own institution's evidence, whoever asks.
            log.warning(
                "workspace.foreign_request_ignored",
                topic=topic,
                tenant=envelope.tenant,
                evidence_id=request.evidence_id,
            )
            return
        if (await self.institutions.policy(envelope.tenant)).mode != "builtin":
            return
        await self._queue(envelope.tenant, request, request.requested_at)

    async def _queue(self, institution_id: str, evidence: EvidenceRecord, at: datetime) -> None:
        try:
            await self.queue.insert_one(
                {
                    "_id": evidence.evidence_id,
                    "institution_id": institution_id,
                    "submitted": evidence.model_dump(
                        mode="json", include=set(EvidenceRecord.model_fields)
                    ),
                    "status": "pending",
                    "queued_at": at,
                    "claim": None,
                    "audit": [audit_entry("queued", "intake", datetime.now(UTC))],
                    # The evidence's trace: its decision, hours or days later, continues it.
                    TRACE_FIELD: trace_headers(),
                }
            )
        except DuplicateKeyError:
            return
        log.info("workspace.queued", evidence_id=evidence.evidence_id)

    async def hand_over(self, institution_id: str) -> None:
        """The institution now reviews with its own service: open items leave the workspace."""
        now = datetime.now(UTC)
        await self.queue.update_many(
            {"institution_id": institution_id, "status": {"$in": OPEN}},
            {
                "$set": {"status": "handed_over", "claim": None},
                "$push": {"audit": audit_entry("handed_over", "review", now)},
            },
        )

    async def take_back(self, institution_id: str, evidence: EvidenceRecord, at: datetime) -> None:
        """Queue evidence still awaiting a decision when the institution returns to builtin."""
        await self.queue.update_one(
            {
                "_id": evidence.evidence_id,
                "institution_id": institution_id,
                "status": "handed_over",
            },
            {
                "$set": {"status": "pending"},
                "$push": {"audit": audit_entry("taken_back", "review", datetime.now(UTC))},
            },
        )
        await self._queue(institution_id, evidence, at)

    async def refused(self, institution_id: str, decision: ReviewDecisionV1, reason: str) -> None:
        """The platform refused one of this workspace's decisions: the item says so, with why."""
        now = datetime.now(UTC)
        entry = audit_entry("refused", "review", now, reason)
        await self.queue.update_one(
            {
                "_id": decision.evidence_id,
                "institution_id": institution_id,
                "decision.id": decision.decision_id,
                "status": "decided",
            },
            {"$set": {"status": "refused", "refusal": reason}, "$push": {"audit": entry}},
        )
        await self.queue.update_one(
            {
                "_id": decision.evidence_id,
                "institution_id": institution_id,
                "reversal.id": decision.decision_id,
                "status": "reversed",
            },
            {
                "$set": {"status": "decided", "refusal": reason},
                "$unset": {"reversal": ""},
                "$push": {"audit": entry},
            },
        )

    async def withdraw(self, institution_id: str, evidence_id: str, at: datetime) -> None:
        """Take evidence the learner withdrew off the queue, unless it was decided first."""
        await self.queue.update_one(
            {"_id": evidence_id, "institution_id": institution_id, "status": {"$in": OPEN}},
            {
                "$set": {"status": "withdrawn", "withdrawn_at": at, "claim": None},
                "$push": {"audit": audit_entry("withdrawn", "learner", at)},
            },
        )

    async def listing(
        self,
        institution_id: str,
        limit: int,
        status: QueueStatus = "open",
        competence_id: str | None = None,
        learner_id: str | None = None,
        older_than: timedelta | None = None,
    ) -> list[Document]:
        """The institution's items, oldest first (open ones by default)."""
        query: Document = {
            "institution_id": institution_id,
            "status": {"$in": list(OPEN)} if status == "open" else status,
        }
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
        if item["status"] not in OPEN:
            raise ProblemError(HTTPStatus.CONFLICT, "Not open", f"it is {item['status']}")
        first = item.get("first_approval") if item["status"] == "awaiting_second_approval" else None
        if first and first["evaluator_id"] == evaluator_id:
            raise ProblemError(
                HTTPStatus.CONFLICT,
                "Decision refused",
                "the second approval must come from another evaluator",
            )
        now = datetime.now(UTC)
        result = await self.queue.update_one(
            {
                "_id": evidence_id,
                "institution_id": institution_id,
                "status": {"$in": OPEN},
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
        """Record the decision and its event in one write; only an open item can be decided.

        Where the institution asks for two evaluators above some hours, a first approval above
        them waits for a second evaluator's decision.
        """
        item = await self._existing(institution_id, evidence_id)
        if item["status"] == "withdrawn":
            raise ProblemError(HTTPStatus.CONFLICT, "Withdrawn", "the learner withdrew it")
        if item["status"] not in OPEN:
            same = item["decision"].get("request") == request.model_dump(mode="json")
            if same and evaluator_id in item["decision"]["evaluators"]:
                return {**item["decision"], "status": item["status"]}  # a retried request
            raise ProblemError(HTTPStatus.CONFLICT, "Already decided", evidence_id)
        claim = item.get("claim")
        now = datetime.now(UTC)
        if claim and claim["by"] != evaluator_id and claim["until"] > now:
            raise ProblemError(
                HTTPStatus.CONFLICT, "Claimed", "another evaluator is reviewing this evidence"
            )
        evidence = EvidenceRecord.model_validate(item["submitted"])
        policy = await self.institutions.policy(institution_id)
        first_approval = item.get("first_approval") if item["status"] != "pending" else None
        if (
            first_approval is not None
            and first_approval["evaluator_id"] == evaluator_id
            and first_approval.get("request") == request.model_dump(mode="json")
        ):
            return {**first_approval, "status": item["status"]}  # a retried first approval
        try:
            result = outcome(
                evidence,
                request,
                evaluator_id=evaluator_id,
                decided_at=now,
                decision_id=str(uuid.uuid4()),
                second_approval_above=policy.second_approval_above_hours,
                first_approval=first_approval,
            )
        except DecisionRefusedError as refused:
            status = {
                "forbidden": HTTPStatus.FORBIDDEN,
                "conflict": HTTPStatus.CONFLICT,
                "invalid": HTTPStatus.UNPROCESSABLE_ENTITY,
            }[refused.kind]
            raise ProblemError(status, "Decision refused", str(refused)) from refused
        if result.decision is None:
            first = {**(result.first_approval or {}), "request": request.model_dump(mode="json")}
            await self._await_second_approval(item, first, evaluator_id)
            return {**first, "status": result.status}
        decision = result.decision
        record = {
            "id": decision.decision_id,
            "decision": decision.decision,
            "approved_hours": str(decision.approved_hours),
            "reason": decision.reason,
            "evaluator_id": decision.reviewer_id,
            "second_evaluator_id": decision.second_reviewer_id,
            "evaluators": [e for e in (decision.reviewer_id, decision.second_reviewer_id) if e],
            "decided_at": now,
            "request": request.model_dump(mode="json"),
        }
        with continuing(item.get(TRACE_FIELD), "review decision", evidence=item["_id"]):
            await self._record(item, "decided", decision, record, evaluator_id)
        log.info("workspace.decided", evidence_id=evidence_id, decision=decision.decision)
        return {**record, "status": "decided"}

    async def _await_second_approval(
        self, item: Document, first_approval: Document, evaluator_id: str
    ) -> None:
        result = await self.queue.update_one(
            {"_id": item["_id"], "institution_id": item["institution_id"], "status": "pending"},
            {
                "$set": {
                    "status": "awaiting_second_approval",
                    "first_approval": first_approval,
                    "claim": None,
                },
                "$push": {
                    "audit": audit_entry(
                        "first_approval",
                        evaluator_id,
                        first_approval["decided_at"],
                        f"{first_approval['approved_hours']} h; a second evaluator must decide",
                    )
                },
            },
        )
        if result.modified_count != 1:
            raise ProblemError(HTTPStatus.CONFLICT, "Already decided", item["_id"])

    async def reverse(
        self, institution_id: str, evidence_id: str, request: ReversalRequest, admin_id: str
    ) -> Document:
        """Overturn an approval; accounting takes the hours back."""
        item = await self._existing(institution_id, evidence_id)
        retried = item.get("reversal")
        if retried and (retried["reason"], retried["evaluator_id"]) == (request.reason, admin_id):
            return retried  # type: ignore[no-any-return]  # a retried request
        if item["status"] != "decided" or item["decision"]["decision"] != "approved":
            raise ProblemError(
                HTTPStatus.CONFLICT, "Nothing to reverse", "only an approval can be reversed"
            )
        evidence = EvidenceRecord.model_validate(item["submitted"])
        now = datetime.now(UTC)
        decision = reversal(evidence, request.reason, str(uuid.uuid4()), now, admin_id)
        record = {
            "id": decision.decision_id,
            "decision": "reversed",
            "approved_hours": "0",
            "reason": request.reason,
            "evaluator_id": admin_id,
            "decided_at": now,
        }
        with continuing(item.get(TRACE_FIELD), "review reversal", evidence=item["_id"]):
            await self._record(item, "reversed", decision, record, admin_id)
        return record

    async def _record(
        self,
        item: Document,
        status: str,
        decision: ReviewDecisionV1,
        record: Document,
        actor: str,
    ) -> None:
        institution_id, evidence_id = item["institution_id"], item["_id"]
        event = Envelope.wrap(
            decision,
            source=SOURCE,
            subject=evidence_id,
            tenant=institution_id,
            event_id=deterministic_event_id(
                "review-decision", institution_id, decision.decision_id
            ),
            time=decision.decided_at,
        )
        update = append_to_outbox(event)
        field = "reversal" if status == "reversed" else "decision"
        update["$set"].update({"status": status, field: record, "claim": None})
        update["$push"]["audit"] = audit_entry(
            decision.decision, actor, decision.decided_at, decision.reason
        )
        # The claim is checked in the write itself: a claim taken since the item was read wins.
        free_for_actor = [
            {"claim": None},
            {"claim.by": actor},
            {"claim.until": {"$lte": decision.decided_at}},
        ]
        result = await self.queue.update_one(
            {
                "_id": evidence_id,
                "institution_id": institution_id,
                "status": item["status"],
                "$or": free_for_actor,
            },
            update,
        )
        if result.modified_count != 1:
            now_item = await self._existing(institution_id, evidence_id)
            if now_item["status"] == item["status"]:
                raise ProblemError(
                    HTTPStatus.CONFLICT, "Claimed", "another evaluator is reviewing this evidence"
                )
            raise ProblemError(HTTPStatus.CONFLICT, "Already decided", evidence_id)
        try:
            await flush(self.queue, evidence_id, self.publisher)
        except Exception:
            log.warning("workspace.publish_deferred", evidence_id=evidence_id, exc_info=True)

    async def decision_times(self, institution_id: str) -> DecisionTimes:
        waits = [
            item["decision"]["decided_at"] - item["queued_at"]
            async for item in self.queue.find(
                {"institution_id": institution_id, "decision": {"$exists": True}},
                {"queued_at": 1, "decision.decided_at": 1},
            )
        ]
        pending = await self.queue.count_documents(
            {"institution_id": institution_id, "status": {"$in": list(OPEN)}}
        )
        return decision_times(waits, pending)


def audit_entry(action: str, actor: str, at: datetime, detail: str = "") -> Document:
    return {"action": action, "by": actor, "at": at, "detail": detail}
