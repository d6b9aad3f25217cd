"""Awards follow the ledger, and decisions on evidence never filed end in the dead letters.

An award is revoked when a reversal takes the balance below the threshold, and granted anew
when it climbs back.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson.decimal128 import Decimal128
from pymongo.asynchronous.database import AsyncDatabase

from microcred_accounting.awards import award_id_for
from microcred_accounting.handlers import Accounting
from microcred_accounting.reports import ReadSide
from microcred_shared.contracts import topics
from microcred_shared.testing.fakes import RecordingPublisher
from services.accounting.tests.ledger_samples import TENANT, filed, post, published, reviewed

pytestmark = pytest.mark.integration


async def test_a_reversal_below_the_threshold_revokes_the_award_once_with_its_reason(
    accounting: Accounting,
) -> None:
    for evidence in ("e1", "e2", "e3"):
        await post(accounting, reviewed(evidence))
    [award] = published(accounting, topics.COMPETENCE_AWARDED)

    reversal = reviewed("e2", decision="reversed")
    reversal = reversal.model_copy(
        update={"data": reversal.data.model_copy(update={"reason": "the certificate is forged"})}
    )
    for _ in range(2):  # redelivered
        await accounting.on_evidence_reviewed(reversal)

    [revoked] = published(accounting, topics.AWARD_REVOKED)
    assert revoked["data"]["award_id"] == award["data"]["award_id"]
    assert revoked["data"]["award_kind"] == "competence"
    reason = revoked["data"]["reason"]
    assert "'Course e2' (30 hours) was reversed (the certificate is forged)" in reason
    assert "fell to 60 of the 90 required" in reason
    progress = await ReadSide(accounting).progress(TENANT, "l-1")
    [competence] = progress["competences"]
    assert (competence["status"], competence["hours"]) == ("revoked", "60")
    assert competence["revocation_reason"] == reason


async def test_a_reversal_that_leaves_the_balance_over_the_threshold_revokes_nothing(
    accounting: Accounting,
) -> None:
    for evidence in ("e1", "e2", "e3", "e4"):
        await post(accounting, reviewed(evidence))
    await accounting.on_evidence_reviewed(reviewed("e4", decision="reversed"))

    assert published(accounting, topics.AWARD_REVOKED) == []
    assert len(published(accounting, topics.COMPETENCE_AWARDED)) == 1


async def test_climbing_back_over_the_threshold_grants_a_new_award(
    accounting: Accounting,
) -> None:
    for evidence in ("e1", "e2", "e3"):
        await post(accounting, reviewed(evidence))
    await accounting.on_evidence_reviewed(reviewed("e3", decision="reversed"))
    await post(accounting, reviewed("e4"))
    await post(accounting, reviewed("e4"))  # redelivered: still one new award

    first, second = published(accounting, topics.COMPETENCE_AWARDED)
    assert first["data"]["award_id"] == award_id_for(TENANT, "l-1", "c-1")
    assert second["data"]["award_id"] == award_id_for(TENANT, "l-1", "c-1", generation=1)
    assert sorted(e["evidence_id"] for e in second["data"]["evidence"]) == ["e1", "e2", "e4"]
    statuses = {d["generation"]: d["status"] async for d in accounting.awards.find({})}
    assert statuses == {0: "revoked", 1: "active"}


async def test_concurrent_consumers_revoke_once(database: AsyncDatabase[Any]) -> None:
    publisher = RecordingPublisher()
    first, second = Accounting(database, publisher), Accounting(database, publisher)
    await first.ensure_indexes()
    for evidence in ("e1", "e2", "e3"):
        await post(first, reviewed(evidence))

    reversal = reviewed("e1", decision="reversed")
    await asyncio.gather(
        first.on_evidence_reviewed(reversal), second.on_evidence_reviewed(reversal)
    )

    assert len(publisher.events(topics.AWARD_REVOKED)) == 1
    [award] = [d async for d in database["awards"].find({})]
    assert [e["sent"] for e in award["outbox"]] == [True, True]


async def test_a_decision_on_evidence_never_filed_is_dead_lettered_after_the_grace_period(
    accounting: Accounting,
) -> None:
    stray = reviewed("never-filed")
    await accounting.on_evidence_reviewed(stray)
    publisher = accounting.publisher
    assert isinstance(publisher, RecordingPublisher)

    assert await accounting.dead_letter_stale_parked() == 0  # may still be overtaking its evidence
    later = datetime.now(UTC) + accounting.unknown_evidence_grace + timedelta(seconds=1)
    assert await accounting.dead_letter_stale_parked(now=later) == 1
    assert await accounting.dead_letter_stale_parked(now=later) == 0

    [(topic, event, reason)] = publisher.dead_letters
    assert topic == topics.EVIDENCE_REVIEWED
    assert event["id"] == stray.id
    assert reason.startswith("unknown evidence: never-filed was not filed within 600 s")
    # Filed after all: the dead-lettered decision stays refused and moves no hours.
    await post(accounting, reviewed("never-filed", decision="rejected"))
    assert await accounting.ledger.count_documents({}) == 0


async def test_a_parked_decision_refused_when_its_evidence_arrives_is_dead_lettered(
    accounting: Accounting,
) -> None:
    # Another institution's decision overtakes the evidence it names.
    foreign = reviewed("e1", tenant="inst-z")
    await accounting.on_evidence_reviewed(foreign)
    await accounting.on_evidence_submitted(filed(reviewed("e1")))

    publisher = accounting.publisher
    assert isinstance(publisher, RecordingPublisher)
    [(topic, event, reason)] = publisher.dead_letters
    assert (topic, event["id"]) == (topics.EVIDENCE_REVIEWED, foreign.id)
    assert "institution is inst-a, not inst-z" in reason
    assert await accounting.ledger.count_documents({}) == 0
    later = datetime.now(UTC) + accounting.unknown_evidence_grace + timedelta(seconds=1)
    assert await accounting.dead_letter_stale_parked(now=later) == 0  # sent once


async def test_the_sweep_applies_a_parked_decision_whose_evidence_came_after_all(
    accounting: Accounting,
) -> None:
    # A crash came between filing the evidence and applying what waited for it.
    decision = reviewed("e1")
    await accounting.on_evidence_reviewed(decision)
    await accounting.evidence.insert_one(
        {
            "_id": "e1",
            "institution_id": TENANT,
            "learner_id": "l-1",
            "competence_id": "c-1",
            "competence_title": "Competence c-1",
            "hours": Decimal128("30"),
            "status": "pending",
        }
    )
    later = datetime.now(UTC) + accounting.unknown_evidence_grace + timedelta(seconds=1)

    assert await accounting.dead_letter_stale_parked(now=later) == 0
    publisher = accounting.publisher
    assert isinstance(publisher, RecordingPublisher)
    assert publisher.dead_letters == []
    assert await accounting.ledger.count_documents({}) == 1
    assert await accounting.parked.count_documents({}) == 0


async def test_awards_stored_before_revocation_existed_are_upgraded_and_revocable(
    accounting: Accounting,
) -> None:
    for evidence in ("e1", "e2", "e3"):
        await post(accounting, reviewed(evidence))
    # As the award was stored before awards could be revoked.
    await accounting.awards.update_many(
        {},
        {
            "$unset": {
                "kind": "",
                "status": "",
                "generation": "",
                "achievement_id": "",
                "component_key": "",
                "title": "",
            },
            "$set": {"competence_id": "c-1"},
        },
    )
    assert await accounting.book.backfill() == 1
    assert await accounting.book.backfill() == 0

    await accounting.on_evidence_reviewed(reviewed("e1", decision="reversed"))
    [revoked] = published(accounting, topics.AWARD_REVOKED)
    assert revoked["data"]["award_id"] == award_id_for(TENANT, "l-1", "c-1")
