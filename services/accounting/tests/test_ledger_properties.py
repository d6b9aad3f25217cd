"""Properties of the ledger under duplicates, reorderings and restarts, on a real database.

The last test runs the same check through the real Kafka, with two accounting instances sharing
one consumer group.

Hypothesis draws the evidence (which of up to three competences, hours in quarter hours, some
approvals later reversed), a pathway over those competences (all of them, or n of them), the
order the decisions arrive in (a reversal may come before its approval), copies of them
(redelivery), and the points where accounting restarts (a new instance on the same database).
Whatever it draws, every balance is the sum of the approved hours no reversal overturned, every
decision is posted once, and the awards follow a reference model that replays the same
sequence: an award is granted each time a balance reaches its threshold without an active award,
revoked each time it falls below with one; the pathway's award is revoked when an award it
stacks is, and granted whenever the pathway is complete without one; and at the end exactly the
competences and the pathway over their thresholds hold an active award.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo.asynchronous.database import AsyncDatabase

from microcred_accounting.bootstrap import build_app
from microcred_accounting.handlers import Accounting
from microcred_accounting.pathways import PathwayDefinition
from microcred_accounting.reports import ReadSide
from microcred_accounting.settings import AccountingSettings
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    InstitutionRef,
    LearnerProfile,
    PathwayComponent,
)
from microcred_shared.demo import wait_for
from microcred_shared.service import consumer_group
from microcred_shared.testing.apps import running, service_env
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.kafka import group_lag, publish_events
from microcred_shared.testing.samples import submitted
from microcred_shared.testing.servers import Servers

pytestmark = pytest.mark.integration

COMPETENCES = tuple(CompetenceSnapshot(id=f"c-{n}", title=f"Competence {n}") for n in range(3))
COMPETENCE = COMPETENCES[0]
THRESHOLD = COMPETENCE.hours_per_ects * COMPETENCE.ects_required  # 90 h by default
LEARNER = "l-1"
PATHWAY = "p-1"


@dataclass(frozen=True)
class Filed:
    evidence_id: str
    hours: Decimal
    reversed: bool
    competence: CompetenceSnapshot = COMPETENCE


@dataclass
class AwardModel:
    """The reference model: awards follow the balances step by step."""

    required: int | None = None  # the pathway's, or no pathway
    approved: dict[str, Filed] = field(default_factory=dict)
    reversed_ids: set[str] = field(default_factory=set)
    active: set[str] = field(default_factory=set)
    grants: dict[str, int] = field(default_factory=dict)
    revocations: dict[str, int] = field(default_factory=dict)
    stacked: set[str] = field(default_factory=set)

    def balance(self, competence_id: str) -> Decimal:
        return sum(
            (
                f.hours
                for e, f in self.approved.items()
                if e not in self.reversed_ids and f.competence.id == competence_id
            ),
            Decimal(0),
        )

    def _follow(self, name: str, over: bool) -> None:
        if over and name not in self.active:
            self.active.add(name)
            self.grants[name] = self.grants.get(name, 0) + 1
        elif not over and name in self.active:
            self.active.discard(name)
            self.revocations[name] = self.revocations.get(name, 0) + 1

    def step(self, filed: Filed, kind: str) -> None:
        if kind == "approved":
            self.approved[filed.evidence_id] = filed
        else:
            self.reversed_ids.add(filed.evidence_id)
        competence = filed.competence.id
        self._follow(competence, self.balance(competence) >= THRESHOLD)
        if self.required is None:
            return
        held = {c.id for c in COMPETENCES if c.id in self.active}
        # A pathway award goes when an award it stacks goes, and comes back (stacking what is
        # left) if the pathway is still complete.
        if PATHWAY in self.active and not self.stacked <= held:
            self._follow(PATHWAY, over=False)
        if PATHWAY not in self.active and len(held) >= self.required:
            self._follow(PATHWAY, over=True)
            self.stacked = held


def replay(sequence: Sequence[tuple[Filed, str]], required: int | None = None) -> AwardModel:
    model = AwardModel(required)
    for filed, kind in sequence:
        model.step(filed, kind)
    return model


#: Of up to 8 pieces: which competence, hours in quarter hours, and whether it is later reversed.
evidence_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=len(COMPETENCES) - 1),
        st.integers(min_value=1, max_value=240).map(lambda q: Decimal(q) / 4),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)


def institution(tenant: str) -> InstitutionRef:
    return InstitutionRef(id=tenant, name="A", country="PT")


def decision(
    tenant: str, filed: Filed, kind: str, learner: str = LEARNER
) -> Envelope[EvidenceReviewedV1]:
    return Envelope.wrap(
        EvidenceReviewedV1(
            decision_id=f"{filed.evidence_id}-{kind}",
            evidence_id=filed.evidence_id,
            learner_id=learner,
            learner=LearnerProfile(name="Ada", email="ada@example.org"),
            institution=institution(tenant),
            competence=filed.competence,
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


def filing(tenant: str, filed: Filed, learner: str = LEARNER) -> Envelope[EvidenceSubmittedV1]:
    return submitted(
        tenant=tenant,
        learner=learner,
        evidence_id=filed.evidence_id,
        hours=filed.hours,
        competence=filed.competence,
    )


def pathway_of(tenant: str, required: int) -> PathwayDefinition:
    """A pathway over every competence: all of them, or ``required`` of them."""
    every = required == len(COMPETENCES)
    return PathwayDefinition(
        title="Stacked",
        rule="all_of" if every else "n_of",
        required=None if every else required,
        components=tuple(
            PathwayComponent(institution_id=tenant, competence_id=c.id) for c in COMPETENCES
        ),
    )


def as_filed(evidence: list[Filed], sequence: list[tuple[Filed, str]]) -> list[tuple[Filed, str]]:
    """The order parked decisions take effect in: by evidence filed, then as first decided."""
    first_seen = list(dict.fromkeys(sequence))
    return [(f, kind) for filed in evidence for f, kind in first_seen if f == filed]


def _per_achievement(events: list[dict[str, Any]], tenant: str, field_name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        if event["tenant"] == tenant:
            name = event["data"][field_name]
            if isinstance(name, dict):
                name = name["id"]
            counts[name] = counts.get(name, 0) + 1
    return counts


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=evidence_strategy, data=st.data())
async def test_balances_and_awards_survive_duplicates_reorderings_and_restarts(
    database: AsyncDatabase[Any], drawn: list[tuple[int, Decimal, bool]], data: st.DataObject
) -> None:
    tenant = f"inst-{uuid.uuid4().hex[:8]}"  # each example its own institution and evidence
    evidence = [
        Filed(f"{tenant}-e{n}", hours, rev, COMPETENCES[c])
        for n, (c, hours, rev) in enumerate(drawn)
    ]
    decisions = [(f, "approved") for f in evidence] + [
        (f, "reversed") for f in evidence if f.reversed
    ]
    copies = data.draw(st.lists(st.sampled_from(decisions), max_size=len(decisions)), "copies")
    sequence = data.draw(st.permutations(decisions + copies), "order")
    restarts = data.draw(st.sets(st.integers(0, len(sequence))), "restarts")
    late_filing = data.draw(st.booleans(), "evidence filed after the decisions")
    required = data.draw(st.integers(1, len(COMPETENCES)), "pathway requires")

    publisher = RecordingPublisher()
    accounting = Accounting(database, publisher)
    await accounting.ensure_indexes()
    await accounting.stacking.define(tenant, PATHWAY, pathway_of(tenant, required))
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

    # Evidence filed late releases its waiting decisions as it is filed: the balances then
    # move evidence by evidence, each one's decisions in the order they were taken.
    model = replay(as_filed(evidence, sequence) if late_filing else sequence, required)
    progress = await ReadSide(accounting).progress(tenant, LEARNER)
    hours = {c["competence_id"]: Decimal(c["hours"]) for c in progress["competences"]}
    for competence in COMPETENCES:
        assert hours.get(competence.id, Decimal(0)) == model.balance(competence.id)
    posted = await accounting.ledger.count_documents({"institution_id": tenant})
    assert posted == len(decisions)

    granted = _per_achievement(publisher.events(topics.COMPETENCE_AWARDED), tenant, "competence")
    granted |= _per_achievement(publisher.events(topics.PATHWAY_AWARDED), tenant, "pathway")
    revoked = _per_achievement(publisher.events(topics.AWARD_REVOKED), tenant, "achievement_id")
    assert granted == model.grants
    assert revoked == model.revocations
    active = {
        d["achievement_id"]
        async for d in accounting.awards.find({"institution_id": tenant, "status": "active"})
    }
    over = {c.id for c in COMPETENCES if model.balance(c.id) >= THRESHOLD}
    assert active == over | ({PATHWAY} if len(over) >= required else set())
    assert await accounting.awards.count_documents({"institution_id": tenant}) == sum(
        model.grants.values()
    )


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
            [filing(tenant, f, owner[f.evidence_id]) for f in evidence],
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
            progress = await ReadSide(accounting).progress(tenant, learner)
            [competence] = progress["competences"] or [{"hours": "0", "status": "in_progress"}]
            assert Decimal(competence["hours"]) == standing, learner
            model = replay(mine)
            awards = await accounting.awards.count_documents(
                {"institution_id": tenant, "learner_id": learner}
            )
            assert awards == model.grants.get(COMPETENCE.id, 0), learner
            assert (competence["status"] == "awarded") == (standing >= THRESHOLD), learner
        assert await accounting.ledger.count_documents({"institution_id": tenant}) == len(decisions)
        assert await accounting.parked.count_documents({"evidence_id": {"$regex": tenant}}) == 0
