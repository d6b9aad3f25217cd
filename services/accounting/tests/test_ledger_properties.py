"""Properties of the ledger under duplicates, reorderings and restarts, on a real database.

The last test runs the same check through the real Kafka, with two accounting instances sharing
one consumer group.

Hypothesis draws the evidence (hours in quarter hours, some approvals later reversed), the order
the decisions arrive in (a reversal may come before its approval), copies of them (redelivery),
and the points where accounting restarts (a new instance on the same database). Whatever it
draws, the balance is the sum of the approved hours that no reversal overturned, every decision
is posted once, and there is exactly one award if and only if the running balance reached the
threshold at some point (a reference model replays the same sequence).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.asynchronous.database import AsyncDatabase

from microcred_accounting.bootstrap import build_app
from microcred_accounting.handlers import Accounting
from microcred_accounting.settings import AccountingSettings
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    InstitutionRef,
    LearnerProfile,
)
from microcred_shared.demo import wait_for
from microcred_shared.service import consumer_group
from microcred_shared.testing.apps import running, service_env
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.kafka import group_lag, publish_events
from microcred_shared.testing.samples import submitted
from microcred_shared.testing.servers import Servers

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


def decision(
    tenant: str, filed: Filed, kind: str, learner: str = LEARNER
) -> Envelope[EvidenceReviewedV1]:
    return Envelope.wrap(
        EvidenceReviewedV1(
            decision_id=f"{filed.evidence_id}-{kind}",
            evidence_id=filed.evidence_id,
            learner_id=learner,
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


def as_filed(evidence: list[Filed], sequence: list[tuple[Filed, str]]) -> list[tuple[Filed, str]]:
    """The order parked decisions take effect in: by evidence filed, then as first decided."""
    first_seen = list(dict.fromkeys(sequence))
    return [(f, kind) for filed in evidence for f, kind in first_seen if f == filed]


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
    # Evidence filed late releases its waiting decisions as it is filed: the running balance
    # then moves evidence by evidence, each one's decisions in the order they were taken.
    expected = expected_award(as_filed(evidence, sequence) if late_filing else sequence)
    assert len(awards) == (1 if expected else 0)
    assert await accounting.awards.count_documents({"institution_id": tenant}) == len(awards)


#: The run on the real broker: pieces of evidence, learners, and the share redelivered.
KAFKA_RUN_EVIDENCE = 400
KAFKA_RUN_LEARNERS = 8
KAFKA_RUN_DUPLICATES = 0.2


async def test_two_instances_in_one_group_count_every_hour_once_on_kafka(
    servers: Servers, topics_ready: None
) -> None:
    """Hundreds of decisions, a fifth of them twice, through Kafka to two accounting instances.

    Each learner's decisions share a partition (the key), so the reference model replays them
    in the order they were published; the two instances split the partitions between them.
    """
    rng = random.Random(20261123)  # noqa: S311 - a reproducible test run, not a secret
    tenant = f"inst-{uuid.uuid4().hex[:8]}"
    learners = [f"{tenant}-l{n}" for n in range(KAFKA_RUN_LEARNERS)]
    owner: dict[str, str] = {}
    evidence = []
    for n in range(KAFKA_RUN_EVIDENCE):
        filed = Filed(f"{tenant}-e{n}", Decimal(rng.randint(1, 120)) / 4, rng.random() < 0.25)
        owner[filed.evidence_id] = rng.choice(learners)
        evidence.append(filed)
    decisions = [(f, "approved") for f in evidence] + [
        (f, "reversed") for f in evidence if f.reversed
    ]
    rng.shuffle(decisions)  # reversals before their approvals too
    copies = rng.sample(decisions, int(len(decisions) * KAFKA_RUN_DUPLICATES))
    sequence = decisions + copies
    rng.shuffle(sequence)

    settings = AccountingSettings(**service_env(servers, "accounting"))  # type: ignore[arg-type]
    first, second = build_app(settings), build_app(settings)
    async with running(first), running(second):
        await publish_events(
            servers.kafka,
            [submitted(tenant, owner[f.evidence_id], f.evidence_id, f.hours) for f in evidence],
        )
        accounting: Accounting = first.state.accounting

        async def all_filed() -> bool | None:
            filed = await accounting.evidence.count_documents({"institution_id": tenant})
            return True if filed == len(evidence) else None

        await wait_for("every piece of evidence filed", all_filed, timeout=120)
        await publish_events(
            servers.kafka,
            [decision(tenant, f, kind, owner[f.evidence_id]) for f, kind in sequence],
        )

        async def caught_up() -> bool | None:
            for topic in (topics.EVIDENCE_SUBMITTED, topics.EVIDENCE_REVIEWED):
                group = consumer_group(settings.consumer_group, topic)
                if await group_lag(servers.kafka, group, [topic]) != 0:
                    return None
            return True

        await wait_for("both instances to process every decision", caught_up, timeout=240)
        for learner in learners:
            mine = [(f, kind) for f, kind in sequence if owner[f.evidence_id] == learner]
            standing = sum(
                (f.hours for f in evidence if owner[f.evidence_id] == learner and not f.reversed),
                Decimal(0),
            )
            progress = await accounting.progress(tenant, learner)
            assert Decimal(progress[0]["hours"] if progress else 0) == standing, learner
            awards = await accounting.awards.count_documents(
                {"institution_id": tenant, "learner_id": learner}
            )
            assert awards == (1 if expected_award(mine) else 0), learner
        assert await accounting.ledger.count_documents({"institution_id": tenant}) == len(decisions)
        assert await accounting.parked.count_documents({"evidence_id": {"$regex": tenant}}) == 0
