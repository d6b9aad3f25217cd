"""Review's rules, free of I/O: what a decision must hold and the events it becomes."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from microcred_shared.contracts.events import EvidenceReviewedV1, EvidenceSubmittedV1, LongText

#: How long a claim keeps other evaluators off an item.
CLAIM_TTL = timedelta(minutes=30)
DECIDED = {"approve": "approved", "reject": "rejected", "request_changes": "changes_requested"}


class DecisionRequest(BaseModel):
    """An evaluator's decision on one piece of evidence."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject", "request_changes"]
    approved_hours: Annotated[Decimal, Field(gt=0, max_digits=9, decimal_places=2)] | None = Field(
        default=None, description="Defaults to all the hours claimed; never more."
    )
    reason: LongText = Field(
        default="", description="Required to reject or request changes; the learner sees it."
    )

    @model_validator(mode="after")
    def _only_approvals_carry_hours_and_others_a_reason(self) -> Self:
        if self.decision != "approve":
            if self.approved_hours is not None:
                raise ValueError(f"a {self.decision} decision approves no hours")
            if not self.reason.strip():
                raise ValueError(f"a {self.decision} decision needs a reason for the learner")
        return self


class ReversalRequest(BaseModel):
    """Overturning an approval (misconduct found, a mistake): the hours leave the ledger."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class DecisionRefusedError(ValueError):
    pass


def reviewed_event(
    submitted: EvidenceSubmittedV1,
    request: DecisionRequest,
    decision_id: str,
    decided_at: datetime,
    evaluator_id: str,
) -> EvidenceReviewedV1:
    """Return the evidence-reviewed payload of ``request``, or refuse it with the reason."""
    approved = Decimal(0)
    if request.decision == "approve":
        approved = request.approved_hours or submitted.hours
        if approved > submitted.hours:
            raise DecisionRefusedError(
                f"approved_hours {approved} exceed the {submitted.hours} hours claimed"
            )
    return _event(
        submitted,
        DECIDED[request.decision],
        approved,
        request.reason,
        decision_id,
        decided_at,
        evaluator_id,
    )


def reversal_event(
    submitted: EvidenceSubmittedV1,
    reason: str,
    decision_id: str,
    decided_at: datetime,
    evaluator_id: str,
) -> EvidenceReviewedV1:
    return _event(submitted, "reversed", Decimal(0), reason, decision_id, decided_at, evaluator_id)


def _event(
    submitted: EvidenceSubmittedV1,
    decision: str,
    approved: Decimal,
    reason: str,
    decision_id: str,
    decided_at: datetime,
    evaluator_id: str,
) -> EvidenceReviewedV1:
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
        decision=decision,  # type: ignore[arg-type]
        claimed_hours=submitted.hours,
        approved_hours=approved,
        reason=reason,
        evaluator_id=evaluator_id,
        decided_at=decided_at,
    )


class DecisionTimes(BaseModel):
    """How long evidence waited for its decision, in hours."""

    decided: int
    pending: int
    median_hours: float | None
    p90_hours: float | None


def decision_times(waits: Iterable[timedelta], pending: int) -> DecisionTimes:
    hours = sorted(w.total_seconds() / 3600 for w in waits)
    if not hours:
        return DecisionTimes(decided=0, pending=pending, median_hours=None, p90_hours=None)
    p90 = hours[min(len(hours) - 1, round(0.9 * (len(hours) - 1)))]
    return DecisionTimes(
        decided=len(hours),
        pending=pending,
        median_hours=round(statistics.median(hours), 2),
        p90_hours=round(p90, 2),
    )
