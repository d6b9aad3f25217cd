"""Decisions and filings as review and intake publish them, for accounting's tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from microcred_accounting.handlers import Accounting
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    InstitutionRef,
    LearnerProfile,
)
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.samples import submitted

TENANT = "inst-a"


def reviewed(
    evidence: str,
    hours: str = "30",
    decision: str = "approved",
    learner: str = "l-1",
    *,
    tenant: str = TENANT,
    competence: str = "c-1",
) -> Envelope[EvidenceReviewedV1]:
    approved = Decimal(hours) if decision == "approved" else Decimal(0)
    return Envelope.wrap(
        EvidenceReviewedV1(
            decision_id=f"d-{evidence}-{decision}",
            evidence_id=evidence,
            learner_id=learner,
            learner=LearnerProfile(name="Ada", email="ada@example.org"),
            institution=InstitutionRef(id=tenant, name=tenant.upper(), country="PT"),
            competence=CompetenceSnapshot(id=competence, title=f"Competence {competence}"),
            evidence_title=f"Course {evidence}",
            evidence_provider="Provider",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 1, 31),
            decision=decision,  # type: ignore[arg-type]
            claimed_hours=Decimal(hours),
            approved_hours=approved,
            evaluator_id="ev-1",
            decided_at=datetime.now(UTC),
        ),
        source="/tests",
        subject=evidence,
        tenant=tenant,
    )


def filed(event: Envelope[EvidenceReviewedV1]) -> Envelope[EvidenceSubmittedV1]:
    """The evidence-submitted event of the evidence ``event`` decides on."""
    review = event.data
    return submitted(
        tenant=event.tenant,
        learner=review.learner_id,
        evidence_id=review.evidence_id,
        hours=review.claimed_hours,
        competence=review.competence,
    )


async def post(accounting: Accounting, event: Envelope[EvidenceReviewedV1]) -> None:
    """Deliver the evidence as filed, then the decision on it, as the two topics would."""
    await accounting.on_evidence_submitted(filed(event))
    await accounting.on_evidence_reviewed(event)


def published(accounting: Accounting, topic: str) -> list[dict[str, Any]]:
    """What ``accounting`` published on ``topic`` (distinct events, first-published order)."""
    publisher = accounting.publisher
    assert isinstance(publisher, RecordingPublisher)
    return publisher.events(topic)
