"""The gateway between intake, each institution's reviewer, and accounting.

For every piece of evidence filed it records a *case* (its own copy of the evidence) and asks the
institution's reviewer to decide, on the institution's request topic. Every decision coming back
on an institution's decision topic is checked against the case before it becomes the platform's
evidence-reviewed event; a decision it cannot accept goes to the dead-letter topic with the
reason, and the consumer moves on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_review.domain import Case, RefusedDecisionError, ReviewPolicy, accept
from microcred_review.institutions import Institutions
from microcred_review.workspace import Workspace
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    EvidenceSubmittedV1,
    EvidenceWithdrawnV1,
    ReviewDecisionV1,
    ReviewRequestedV1,
)
from microcred_shared.contracts.topics import institution_of_review_topic
from microcred_shared.kafka import RawEventPublisher, RefusedEventError
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import append_to_outbox, ensure_outbox_index, flush, outbox_fields

log = get_logger(__name__)

SOURCE = "/microcred/review"


@dataclass
class Gateway:
    database: AsyncDatabase[Document]
    publisher: RawEventPublisher
    institutions: Institutions
    workspace: Workspace

    @property
    def cases(self) -> Any:
        return self.database["cases"]

    async def ensure_indexes(self) -> None:
        await self.cases.create_index([("institution_id", ASCENDING), ("status", ASCENDING)])
        await ensure_outbox_index(self.cases)

    async def on_evidence_submitted(self, envelope: Envelope[EvidenceSubmittedV1]) -> None:
        """Open a case and ask the institution's reviewer; a redelivery only re-sends the ask."""
        evidence = envelope.data
        await self.institutions.provision(envelope.tenant)
        now = datetime.now(UTC)
        request = ReviewRequestedV1.model_validate({**evidence.model_dump(), "requested_at": now})
        ask = Envelope.wrap(
            request,
            source=SOURCE,
            subject=evidence.evidence_id,
            tenant=envelope.tenant,
            event_id=deterministic_event_id(
                "review-requested", envelope.tenant, evidence.evidence_id
            ),
            time=now,
        )
        try:
            await self.cases.insert_one(
                {
                    "_id": evidence.evidence_id,
                    "institution_id": envelope.tenant,
                    "case": Case(evidence=evidence, status="awaiting_decision").model_dump(
                        mode="json"
                    ),
                    "status": "awaiting_decision",
                    "opened_at": now,
                    **outbox_fields([ask]),
                }
            )
            log.info("review.requested", evidence_id=evidence.evidence_id)
        except DuplicateKeyError:
            pass
        await flush(self.cases, evidence.evidence_id, self.publisher)

    async def on_evidence_withdrawn(self, envelope: Envelope[EvidenceWithdrawnV1]) -> None:
        """Close the case, unless a decision came first (then the decision stands)."""
        withdrawn = envelope.data
        await self.cases.update_one(
            {
                "_id": withdrawn.evidence_id,
                "institution_id": envelope.tenant,
                "status": "awaiting_decision",
            },
            {"$set": {"status": "withdrawn", "case.status": "withdrawn"}},
        )
        await self.workspace.withdraw(
            envelope.tenant, withdrawn.evidence_id, withdrawn.withdrawn_at
        )

    async def change_policy(self, institution_id: str, policy: ReviewPolicy) -> ReviewPolicy:
        """Set the institution's review settings, handing open reviews to the new reviewer.

        To external: the workspace's open items leave it (the institution's reviewer reads every
        request from the start of its topic). To builtin: every case still awaiting a decision
        is queued in the workspace, since its requests went by while the workspace left them.
        """
        before = await self.institutions.policy(institution_id)
        policy = await self.institutions.configure(institution_id, policy)
        if before.mode == policy.mode:
            return policy
        if policy.mode == "external":
            await self.workspace.hand_over(institution_id)
        else:
            async for document in self.cases.find(
                {"institution_id": institution_id, "status": "awaiting_decision"}
            ):
                case = Case.model_validate(document["case"])
                await self.workspace.take_back(institution_id, case.evidence, document["opened_at"])
        return policy

    async def on_review_decision(self, envelope: Envelope[ReviewDecisionV1], topic: str) -> None:
        """Turn an acceptable decision into the platform's evidence-reviewed event, once."""
        decision = envelope.data
        topic_institution = institution_of_review_topic(topic) or ""
        document = await self.cases.find_one({"_id": decision.evidence_id})
        case = Case.model_validate(document["case"]) if document else None
        try:
            reviewed = accept(case, decision, topic_institution)
        except RefusedDecisionError as refused:
            log.warning(
                "review.decision_refused",
                topic=topic,
                evidence_id=decision.evidence_id,
                reason=str(refused),
            )
            # The built-in reviewer learns of the refusal of its own decision (a withdrawal
            # crossed it), so its item does not show a decision that never took effect.
            await self.workspace.refused(topic_institution, decision, str(refused))
            raise RefusedEventError(str(refused)) from refused
        if reviewed is None:  # the same decision again: make sure its event went out
            await flush(self.cases, decision.evidence_id, self.publisher)
            return
        assert case is not None  # noqa: S101 - accept() refuses a decision without a case
        event = Envelope.wrap(
            reviewed,
            source=SOURCE,
            subject=decision.evidence_id,
            tenant=envelope.tenant,
            event_id=deterministic_event_id(
                "evidence-reviewed", envelope.tenant, decision.evidence_id, decision.decision_id
            ),
            time=decision.decided_at,
        )
        reversed_ = decision.decision == "reversed"
        status = "reversed" if reversed_ else "decided"
        update = append_to_outbox(event)
        update["$set"].update(
            {
                "status": status,
                "case.status": status,
                "case.reversal" if reversed_ else "case.decision": decision.model_dump(mode="json"),
            }
        )
        result = await self.cases.update_one(
            {"_id": decision.evidence_id, "status": case.status}, update
        )
        if result.modified_count != 1:
            # Another decision got in first; its redelivery or this one's will find out which.
            raise RuntimeError(f"case {decision.evidence_id} changed while deciding")
        log.info("review.accepted", evidence_id=decision.evidence_id, decision=decision.decision)
        await flush(self.cases, decision.evidence_id, self.publisher)
