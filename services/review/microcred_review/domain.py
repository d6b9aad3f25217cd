"""Review's rules, free of I/O: what a decision must hold and the event it becomes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from microcred_shared.contracts.envelope import Identifier
from microcred_shared.contracts.events import EvidenceReviewedV1, EvidenceSubmittedV1, LongText


class DecisionRequest(BaseModel):
    """An evaluator's decision on one piece of evidence."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    evaluator_id: Identifier
    approved_hours: Annotated[Decimal, Field(gt=0, max_digits=9, decimal_places=2)] | None = Field(
        default=None, description="Defaults to all the hours claimed; never more."
    )
    reason: LongText = ""

    @model_validator(mode="after")
    def _reject_has_reason_and_no_hours(self) -> Self:
        if self.decision == "reject":
            if self.approved_hours is not None:
                raise ValueError("a rejection approves no hours")
            if not self.reason.strip():
                raise ValueError("a rejection needs a reason for the learner")
        return self


class DecisionRefusedError(ValueError):
    pass


def reviewed_event(
    submitted: EvidenceSubmittedV1,
    request: DecisionRequest,
    decision_id: str,
    decided_at: datetime,
) -> EvidenceReviewedV1:
    """Return the evidence-reviewed payload of ``request``, or refuse it with the reason."""
    approved = Decimal(0)
    if request.decision == "approve":
        approved = request.approved_hours or submitted.hours
        if approved > submitted.hours:
            raise DecisionRefusedError(
                f"approved_hours {approved} exceed the {submitted.hours} hours claimed"
            )
    return EvidenceReviewedV1(
        decision_id=decision_id,
        evidence_id=submitted.evidence_id,
        learner_id=submitted.learner_id,
        learner=submitted.learner,
        institution=submitted.institution,
        competence=submitted.competence,
        evidence_title=submitted.title,
        evidence_provider=submitted.provider,
        start_date=submitted.start_date,
        end_date=submitted.end_date,
        decision="approved" if request.decision == "approve" else "rejected",
        claimed_hours=submitted.hours,
        approved_hours=approved,
        reason=request.reason,
        evaluator_id=request.evaluator_id,
        decided_at=decided_at,
    )
