"""Properties of the ledger under duplicates, reorderings and restarts, on a real database.

Hypothesis draws the evidence (hours in quarter hours, some approvals later reversed), the order
the decisions arrive in (a reversal may come before its approval), copies of them (redelivery),
and the points where accounting restarts (a new instance on the same database). Whatever it
draws, the balance is the sum of the approved hours that no reversal overturned, every decision
is posted once, and there is exactly one award if and only if the running balance reached the
threshold at some point (a reference model replays the same sequence).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.asynchronous.database import AsyncDatabase

from microcred_accounting.handlers import Accounting
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    InstitutionRef,
    LearnerProfile,
)
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.samples import submitted

pytestmark = pytest.mark.integration

COMPETENCE = CompetenceSnapshot(id="c-1", title="Competence")
THRESHOLD = COMPETENCE.hours_per_ects * COMPETENCE.ects_required  # 90 h by default
LEARNER = "l-1"


@dataclass(frozen=True)
class Filed:
    evidence_id: str
    hours: Decimal
    reversed: bool


#: Hours in quarter hours, and whether the approval is later reversed, of up to 8 pieces.
evidence_strategy = st.lists(
    st.tuples(st.integers(min_value=1, max_value=240).map(lambda q: Decimal(q) / 4), st.booleans()),
    min_size=1,
    max_size=8,
)


def decision(tenant: str, filed: Filed, kind: str) -> Envelope[EvidenceReviewedV1]:
    return Envelope.wrap(
        EvidenceReviewedV1(
            decision_id=f"{filed.evidence_id}-{kind}",
            evidence_id=filed.evidence_id,
            learner_id=LEARNER,
            learner=LearnerProfile(name="Ada", email="ada@example.org"),
            institution=InstitutionRef(id=tenant, name="A", country="PT"),
            competence=COMPETENCE,
            evidence_title="Course",
            evidence_provider="Provider",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 1, 31),
            decision=kind,  # type: ignore[arg-type]
            claimed_hours=filed.hours,
            approved_hours=filed.hours if kind == "approved" else Decimal(0),
            evaluator_id="ev-1",
            decided_at=datetime.now(UTC),
        ),
        source="/tests",
        subject=filed.evidence_id,
        tenant=tenant,
        event_id=f"{filed.evidence_id}-{kind}",
    )


def filing(tenant: str, filed: Filed) -> Envelope[EvidenceSubmittedV1]:
    return submitted(
        tenant=tenant, learner=LEARNER, evidence_id=filed.evidence_id, hours=filed.hours
    )


def expected_award(sequence: list[tuple[Filed, str]]) -> bool:
    """Whether the balance of standing approvals ever reaches the threshold (reference model)."""
    approved: dict[str, Decimal] = {}
    reversed_ids: set[str] = set()
    for filed, kind in sequence:
        if kind == "approved":
            approved[filed.evidence_id] = filed.hours
        else:
            reversed_ids.add(filed.evidence_id)
        standing = sum((h for e, h in approved.items() if e not in reversed_ids), Decimal(0))
        if standing >= THRESHOLD:
            return True
    return False


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=evidence_strategy, data=st.data())
async def test_balances_and_awards_survive_duplicates_reorderings_and_restarts(
    database: AsyncDatabase[Any], drawn: list[tuple[Decimal, bool]], data: st.DataObject
) -> None:
    tenant = f"inst-{uuid.uuid4().hex[:8]}"  # each example its own institution and evidence
    evidence = [Filed(f"{tenant}-e{n}", hours, rev) for n, (hours, rev) in enumerate(drawn)]
    decisions = [(f, "approved") for f in evidence] + [
        (f, "reversed") for f in evidence if f.reversed
    ]
    copies = data.draw(st.lists(st.sampled_from(decisions), max_size=len(decisions)), "copies")
    sequence = data.draw(st.permutations(decisions + copies), "order")
    restarts = data.draw(st.sets(st.integers(0, len(sequence))), "restarts")
    late_filing = data.draw(st.booleans(), "evidence filed after the decisions")

    publisher = RecordingPublisher()
    accounting = Accounting(database, publisher)
    await accounting.ensure_indexes()
    if not late_filing:
        for filed in evidence:
            await accounting.on_evidence_submitted(filing(tenant, filed))
    for position, (filed, kind) in enumerate(sequence):
        if position in restarts:
            accounting = Accounting(database, publisher)  # a restart: nothing kept in memory
        await accounting.on_evidence_reviewed(decision(tenant, filed, kind))
    if late_filing:
        for filed in evidence:
            await accounting.on_evidence_submitted(filing(tenant, filed))

    standing = sum((f.hours for f in evidence if not f.reversed), Decimal(0))
    [progress] = await accounting.progress(tenant, LEARNER)
    assert Decimal(progress["hours"]) == standing
    posted = await accounting.ledger.count_documents({"institution_id": tenant})
    assert posted == len(decisions)
    awards = [e for e in publisher.events(topics.COMPETENCE_AWARDED) if e["tenant"] == tenant]
    # Evidence filed late is applied in one go, once every decision is known: the running
    # balance is then the final one.
    expected = standing >= THRESHOLD if late_filing else expected_award(sequence)
    assert len(awards) == (1 if expected else 0)
    assert await accounting.awards.count_documents({"institution_id": tenant}) == len(awards)
