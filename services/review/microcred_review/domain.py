"""Review's rules, free of I/O.

Two roles live in review. The *built-in reviewer* is the evaluators' workspace: it answers the
institution's review requests with decisions, like any institution's own review service would.
The *gateway* asks each institution's reviewer to decide on evidence and checks every decision
it gets back against the evidence it asked about before it becomes an evidence-reviewed event.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from microcred_shared.contracts.events import (
    EvidenceRecord,
    EvidenceReviewedV1,
    LongText,
    ReviewDecisionV1,
)
from microcred_shared.mongo import Document

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


class ReviewPolicy(BaseModel):
    """How an institution reviews evidence."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["builtin", "external"] = Field(
        default="builtin",
        description=(
            "builtin: the institution's evaluators decide in microcred's workspace; external: "
            "the institution's own review service answers on its decision topic."
        ),
    )
    second_approval_above_hours: (
        Annotated[Decimal, Field(gt=0, max_digits=9, decimal_places=2)] | None
    ) = Field(
        default=None,
        description="Approvals of more hours than this need a second evaluator (builtin mode).",
    )


class DecisionRefusedError(ValueError):
    """An evaluator's decision the rules refuse; ``kind`` says how the caller went wrong."""

    def __init__(self, reason: str, kind: Literal["forbidden", "conflict", "invalid"]) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class Outcome:
    """What an evaluator's decision does to an item of the workspace."""

    status: Literal["decided", "awaiting_second_approval"]
    decision: ReviewDecisionV1 | None
    first_approval: Document | None = None


def outcome(
    evidence: EvidenceRecord,
    request: DecisionRequest,
    *,
    evaluator_id: str,
    decided_at: datetime,
    decision_id: str,
    second_approval_above: Decimal | None,
    first_approval: Document | None,
) -> Outcome:
    """Apply the institution's rules to an evaluator's decision on ``evidence``.

    ``first_approval`` is the earlier approval a second evaluator is asked to confirm, if any.
    """
    if evidence.learner_id == evaluator_id:
        raise DecisionRefusedError("no one decides on their own evidence", "forbidden")
    approved = Decimal(0)
    if request.decision == "approve":
        default = Decimal(first_approval["approved_hours"]) if first_approval else evidence.hours
        approved = request.approved_hours or default
        if approved > evidence.hours:
            raise DecisionRefusedError(
                f"approved_hours {approved} exceed the {evidence.hours} hours claimed", "invalid"
            )
    if first_approval is not None and first_approval["evaluator_id"] == evaluator_id:
        raise DecisionRefusedError(
            "the second approval must come from another evaluator", "conflict"
        )
    needs_second = (
        first_approval is None
        and request.decision == "approve"
        and second_approval_above is not None
        and approved > second_approval_above
    )
    if needs_second:
        return Outcome(
            status="awaiting_second_approval",
            decision=None,
            first_approval={
                "evaluator_id": evaluator_id,
                "approved_hours": str(approved),
                "reason": request.reason,
                "decided_at": decided_at,
            },
        )
    first = first_approval["evaluator_id"] if first_approval else None
    return Outcome(
        status="decided",
        decision=ReviewDecisionV1(
            decision_id=decision_id,
            evidence_id=evidence.evidence_id,
            learner_id=evidence.learner_id,
            institution_id=evidence.institution.id,
            decision=DECIDED[request.decision],  # type: ignore[arg-type]
            approved_hours=approved,
            reason=request.reason,
            reviewer_id=first or evaluator_id,
            second_reviewer_id=evaluator_id if first else None,
            decided_at=decided_at,
        ),
    )


def reversal(
    evidence: EvidenceRecord, reason: str, decision_id: str, decided_at: datetime, admin_id: str
) -> ReviewDecisionV1:
    return ReviewDecisionV1(
        decision_id=decision_id,
        evidence_id=evidence.evidence_id,
        learner_id=evidence.learner_id,
        institution_id=evidence.institution.id,
        decision="reversed",
        approved_hours=Decimal(0),
        reason=reason,
        reviewer_id=admin_id,
        decided_at=decided_at,
    )


class Case(BaseModel):
    """What the platform asked a reviewer about, and what became of it."""

    evidence: EvidenceRecord
    status: Literal["awaiting_decision", "decided", "reversed", "withdrawn"]
    decision: ReviewDecisionV1 | None = None
    reversal: ReviewDecisionV1 | None = None


class RefusedDecisionError(ValueError):
    """A reviewer's decision the platform cannot accept; the reason goes to the dead letters."""


def _own_case(case: Case | None, decision: ReviewDecisionV1, topic_institution: str) -> Case:
    """The case ``decision`` is about, if it is the deciding institution's own."""
    if decision.institution_id != topic_institution:
        raise RefusedDecisionError(
            f"a decision of institution {decision.institution_id} on the topic of "
            f"{topic_institution}"
        )
    # One answer for unknown and foreign evidence: a reviewer learns nothing of other
    # institutions' evidence from its dead letters.
    if case is None or case.evidence.institution.id != decision.institution_id:
        raise RefusedDecisionError(
            f"{decision.institution_id} was asked for no decision on evidence "
            f"{decision.evidence_id}"
        )
    if case.evidence.learner_id != decision.learner_id:
        raise RefusedDecisionError(
            f"evidence {decision.evidence_id} is not learner {decision.learner_id}'s"
        )
    return case


def accept(
    case: Case | None, decision: ReviewDecisionV1, topic_institution: str
) -> EvidenceReviewedV1 | None:
    """Check a reviewer's decision against the evidence the platform asked about.

    Returns the evidence-reviewed payload to publish, None for a repeat of a decision already
    taken, or raises ``RefusedDecisionError`` with the reason.
    """
    case = _own_case(case, decision, topic_institution)
    evidence = case.evidence
    for taken in (case.decision, case.reversal):
        if taken is not None and taken.decision_id == decision.decision_id:
            if taken != decision:
                raise RefusedDecisionError(
                    f"decision_id {decision.decision_id} was already used for another decision"
                )
            return None  # the same decision again
    if case.status == "withdrawn":
        raise RefusedDecisionError(f"the learner withdrew evidence {decision.evidence_id}")
    if decision.decision == "reversed":
        if (
            case.status != "decided"
            or case.decision is None
            or case.decision.decision != ("approved")
        ):
            raise RefusedDecisionError("only an approval can be reversed")
    elif case.status != "awaiting_decision":
        raise RefusedDecisionError(f"evidence {decision.evidence_id} is already decided")
    if decision.approved_hours > evidence.hours:
        raise RefusedDecisionError(
            f"approved_hours {decision.approved_hours} exceed the {evidence.hours} hours claimed"
        )
    return EvidenceReviewedV1(
        decision_id=decision.decision_id,
        evidence_id=evidence.evidence_id,
        learner_id=evidence.learner_id,
        learner=evidence.learner,
        institution=evidence.institution,
        competence=evidence.competence,
        evidence_title=evidence.title,
        evidence_provider=evidence.provider,
        start_date=evidence.start_date,
        end_date=evidence.end_date,
        decision=decision.decision,
        claimed_hours=evidence.hours,
        approved_hours=decision.approved_hours,
        reason=decision.reason,
        evaluator_id=decision.reviewer_id,
        second_evaluator_id=decision.second_reviewer_id,
        decided_at=decision.decided_at,
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
