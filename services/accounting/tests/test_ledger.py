"""Posting decisions and awarding on a real MongoDB-protocol server.

Exactly once, whatever arrives twice or at the same moment.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from microcred_accounting.handlers import Accounting
from microcred_accounting.reports import ReadSide
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    EvidenceReviewedV1,
    InstitutionRef,
)
from microcred_shared.kafka import RefusedEventError
from microcred_shared.outbox import OutboxRelay
from microcred_shared.testing.fakes import RecordingPublisher
from services.accounting.tests.ledger_samples import TENANT, filed, post, reviewed

pytestmark = pytest.mark.integration


async def standing(accounting: Accounting, learner: str = "l-1") -> list[tuple[str, str, str]]:
    """Per competence of the learner: the hours that count and the award's state."""
    progress = await ReadSide(accounting).progress(TENANT, learner)
    return [(c["competence_id"], c["hours"], c["status"]) for c in progress["competences"]]


def awards(accounting: Accounting) -> list[dict[str, Any]]:
    publisher = accounting.publisher
    assert isinstance(publisher, RecordingPublisher)
    return publisher.events(topics.COMPETENCE_AWARDED)


async def test_three_approvals_of_30_hours_award_once(accounting: Accounting) -> None:
    for evidence in ("e1", "e2"):
        await post(accounting, reviewed(evidence))
    assert awards(accounting) == []
    await post(accounting, reviewed("e3"))

    [award] = awards(accounting)
    assert award["data"]["hours"] == "90"
    assert award["data"]["ects"] == "3.00"
    assert sorted(e["evidence_id"] for e in award["data"]["evidence"]) == ["e1", "e2", "e3"]
    assert await accounting.awards.count_documents({}) == 1


async def test_redelivered_decisions_count_once(accounting: Accounting) -> None:
    events = [reviewed(e) for e in ("e1", "e2", "e3")]
    for event in events + events + list(reversed(events)):
        await post(accounting, event)

    assert await accounting.ledger.count_documents({}) == 3
    assert len(awards(accounting)) == 1
    assert await standing(accounting) == [("c-1", "90", "awarded")]


async def test_concurrent_consumers_crossing_the_threshold_award_once(
    database: AsyncDatabase[Any],
) -> None:
    publisher = RecordingPublisher()
    first, second = Accounting(database, publisher), Accounting(database, publisher)
    await first.ensure_indexes()
    await post(first, reviewed("e1"))
    await post(first, reviewed("e2"))

    await asyncio.gather(
        post(first, reviewed("e3")),
        post(second, reviewed("e4")),
        post(second, reviewed("e3")),
    )

    assert await database["awards"].count_documents({}) == 1
    assert len(publisher.events(topics.COMPETENCE_AWARDED)) == 1


async def test_rejections_add_nothing_and_reversals_take_back(accounting: Accounting) -> None:
    await post(accounting, reviewed("e1"))
    await post(accounting, reviewed("e2", decision="rejected"))
    await post(accounting, reviewed("e1", decision="reversed"))
    await post(accounting, reviewed("e1", decision="reversed"))

    assert await standing(accounting) == [("c-1", "0", "in_progress")]


async def test_an_unpublished_award_is_published_by_the_relay(
    database: AsyncDatabase[Any],
) -> None:
    publisher = RecordingPublisher(failing=True)
    accounting = Accounting(database, publisher)
    await accounting.ensure_indexes()
    for evidence in ("e1", "e2"):
        await post(accounting, reviewed(evidence))
    with pytest.raises(ConnectionError):
        await post(accounting, reviewed("e3"))
    assert publisher.published == []

    publisher.failing = False
    assert await OutboxRelay([accounting.awards], publisher, 1.0).relay_once() == 0  # too fresh
    relay = OutboxRelay([accounting.awards], publisher, 1.0, grace_seconds=0)
    assert await relay.relay_once() == 1
    assert len(publisher.events(topics.COMPETENCE_AWARDED)) == 1
    assert await relay.relay_once() == 0


async def test_a_decision_contradicting_the_evidence_as_filed_is_refused(
    accounting: Accounting,
) -> None:
    honest = reviewed("e1")
    await accounting.on_evidence_submitted(filed(honest))
    data = honest.data.model_dump()
    foreign = Envelope.wrap(
        EvidenceReviewedV1.model_validate(
            {**data, "institution": InstitutionRef(id="inst-b", name="B", country="PT")}
        ),
        source="/intruder",
        subject="e1",
        tenant="inst-b",
    )
    other_competence = Envelope.wrap(
        EvidenceReviewedV1.model_validate(
            {**data, "competence": CompetenceSnapshot(id="c-2", title="Another")}
        ),
        source="/intruder",
        subject="e1",
        tenant=TENANT,
    )
    for forged, reason in (
        (foreign, "institution is inst-a, not inst-b"),
        (reviewed("e1", learner="l-2"), "learner is l-1, not l-2"),
        (other_competence, "competence is c-1, not c-2"),
        (reviewed("e1", hours="300"), "hours claimed is 30, not 300"),
    ):
        with pytest.raises(RefusedEventError, match=reason):
            await accounting.on_evidence_reviewed(forged)
    assert await accounting.ledger.count_documents({}) == 0

    await accounting.on_evidence_reviewed(honest)
    assert await accounting.ledger.count_documents({}) == 1


async def test_a_decision_overtaking_its_evidence_waits_for_it(accounting: Accounting) -> None:
    # The consumer of evidence-submitted lags: three decisions arrive before their evidence.
    early = [reviewed(e) for e in ("e1", "e2", "e3")]
    forged = reviewed("e4", learner="l-2")
    for event in [*early, early[0], forged]:
        await accounting.on_evidence_reviewed(event)
    assert await accounting.ledger.count_documents({}) == 0
    assert await accounting.parked.count_documents({}) == 4

    for event in early:
        await accounting.on_evidence_submitted(filed(event))
    await accounting.on_evidence_submitted(filed(reviewed("e4")))  # filed by l-1, not l-2

    assert await accounting.ledger.count_documents({}) == 3
    assert len(awards(accounting)) == 1
    [refused] = [d async for d in accounting.parked.find({})]
    assert "learner is l-1, not l-2" in refused["refused"]
