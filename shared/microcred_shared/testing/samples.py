"""Sample events for tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from microcred_shared.contracts import Envelope
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    EvidenceSubmittedV1,
    InstitutionRef,
    LearnerProfile,
    StoredFile,
)


def submitted(
    tenant: str = "inst-a",
    learner: str = "learner-1",
    evidence_id: str = "ev-1",
    hours: Decimal = Decimal(30),
    competence: CompetenceSnapshot | None = None,
) -> Envelope[EvidenceSubmittedV1]:
    return Envelope.wrap(
        EvidenceSubmittedV1(
            evidence_id=evidence_id,
            learner_id=learner,
            learner=LearnerProfile(name="Ada", email="ada@example.org"),
            institution=InstitutionRef(id=tenant, name="Inst A", country="PT"),
            competence=competence or CompetenceSnapshot(id="c-1", title="Competence"),
            title="Course",
            hours=hours,
            start_date=date(2026, 1, 1),
            end_date=date(2026, 1, 31),
            provider="Provider",
            kind="course",
            files=(
                StoredFile(
                    key="k",
                    filename="f.pdf",
                    content_type="application/pdf",
                    size=1,
                    sha256="0" * 64,
                ),
            ),
            submitted_at=datetime(2026, 2, 1, tzinfo=UTC),
        ),
        source="/tests",
        subject=evidence_id,
        tenant=tenant,
    )
