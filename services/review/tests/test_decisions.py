"""The evaluator's workspace on a real MongoDB-protocol server.

Queue, claims, decisions, reversals, audit trail, decision times.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, Literal

import pytest
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from microcred_review.domain import DecisionRequest, ReversalRequest, decision_times
from microcred_review.handlers import Review
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import EvidenceWithdrawnV1
from microcred_shared.http import ProblemError
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.samples import submitted

TENANT = "inst-a"
APPROVE = DecisionRequest(decision="approve")


@pytest.fixture
async def review(database: AsyncDatabase[Any]) -> Review:
    service = Review(database, RecordingPublisher())
    await service.ensure_indexes()
    await service.on_evidence_submitted(submitted(tenant=TENANT))
    return service


def reviewed(review: Review) -> list[dict[str, Any]]:
    publisher = review.publisher
    assert isinstance(publisher, RecordingPublisher)
    return publisher.events(topics.EVIDENCE_REVIEWED)


@pytest.mark.unit
def test_rejections_and_change_requests_need_a_reason_and_approve_nothing() -> None:
    decisions: tuple[Literal["reject", "request_changes"], ...] = ("reject", "request_changes")
    for decision in decisions:
        with pytest.raises(ValidationError, match="needs a reason"):
            DecisionRequest(decision=decision)
        with pytest.raises(ValidationError, match="approves no hours"):
            DecisionRequest(decision=decision, reason="r", approved_hours=Decimal(1))
    with pytest.raises(ValidationError):
        DecisionRequest(decision="approve", approved_hours=Decimal(-1))


@pytest.mark.unit
def test_decision_times() -> None:
    times = decision_times([timedelta(hours=h) for h in (1, 2, 3, 4, 10)], pending=2)
    assert times.decided == 5
    assert times.median_hours == 3.0
    assert times.p90_hours == 10.0
    assert decision_times([], pending=0).median_hours is None


@pytest.mark.integration
async def test_redelivered_submission_is_queued_once(review: Review) -> None:
    await review.on_evidence_submitted(submitted(tenant=TENANT))
    assert [item["_id"] for item in await review.pending(TENANT, 10)] == ["ev-1"]
    assert await review.pending(TENANT, 10, competence_id="c-1") != []
    assert await review.pending(TENANT, 10, competence_id="other") == []
    assert await review.pending(TENANT, 10, learner_id="someone-else") == []
    assert await review.pending(TENANT, 10, older_than=timedelta(days=1)) == []


@pytest.mark.integration
async def test_approval_defaults_to_all_hours_and_publishes_once(review: Review) -> None:
    decision = await review.decide(TENANT, "ev-1", APPROVE, "eva")
    again = await review.decide(TENANT, "ev-1", APPROVE, "eva")  # a retried request

    assert decision["decision"] == "approved"
    assert decision["approved_hours"] == "30"
    assert again["id"] == decision["id"]
    [event] = reviewed(review)
    assert event["data"]["approved_hours"] == "30"
    assert event["data"]["evaluator_id"] == "eva"
    assert event["tenant"] == TENANT
    assert await review.pending(TENANT, 10) == []
    item = await review.item(TENANT, "ev-1")
    assert item is not None
    assert [entry["action"] for entry in item["audit"]] == ["queued", "approved"]
    assert (await review.decision_times(TENANT)).decided == 1


@pytest.mark.integration
async def test_claims_keep_other_evaluators_off(review: Review) -> None:
    await review.claim(TENANT, "ev-1", "eva")
    with pytest.raises(ProblemError) as taken:
        await review.claim(TENANT, "ev-1", "bob")
    assert taken.value.status == 409
    with pytest.raises(ProblemError) as blocked:
        await review.decide(TENANT, "ev-1", APPROVE, "bob")
    assert blocked.value.status == 409
    await review.release(TENANT, "ev-1", "eva")
    await review.claim(TENANT, "ev-1", "bob")
    await review.decide(TENANT, "ev-1", APPROVE, "bob")
    assert len(reviewed(review)) == 1


@pytest.mark.integration
async def test_partial_approval_refusals_and_conflicts(review: Review) -> None:
    with pytest.raises(ProblemError) as too_many:
        await review.decide(
            TENANT, "ev-1", DecisionRequest(decision="approve", approved_hours=Decimal(31)), "e"
        )
    assert too_many.value.status == 422
    partial = await review.decide(
        TENANT, "ev-1", DecisionRequest(decision="approve", approved_hours=Decimal("12.5")), "e"
    )
    assert partial["approved_hours"] == "12.5"
    with pytest.raises(ProblemError) as conflict:
        await review.decide(TENANT, "ev-1", DecisionRequest(decision="reject", reason="no"), "e")
    assert conflict.value.status == 409
    assert len(reviewed(review)) == 1


@pytest.mark.integration
async def test_changes_requested_then_reversal_of_an_approval(
    database: AsyncDatabase[Any],
) -> None:
    review = Review(database, RecordingPublisher())
    await review.on_evidence_submitted(submitted(tenant=TENANT))
    changes = DecisionRequest(decision="request_changes", reason="Add the second page.")
    assert (await review.decide(TENANT, "ev-1", changes, "eva"))["decision"] == (
        "changes_requested"
    )
    with pytest.raises(ProblemError) as not_approved:
        await review.reverse(TENANT, "ev-1", ReversalRequest(reason="x"), "admin")
    assert not_approved.value.status == 409

    other = submitted(tenant=TENANT, evidence_id="ev-2")
    await review.on_evidence_submitted(other)
    await review.decide(TENANT, "ev-2", APPROVE, "eva")
    reversal = await review.reverse(
        TENANT, "ev-2", ReversalRequest(reason="The certificate was forged."), "admin"
    )
    assert reversal["decision"] == "reversed"
    decisions = [e["data"]["decision"] for e in reviewed(review)]
    assert decisions == ["changes_requested", "approved", "reversed"]
    assert reviewed(review)[-1]["data"]["reason"] == "The certificate was forged."


@pytest.mark.integration
async def test_withdrawn_evidence_cannot_be_decided(review: Review) -> None:
    withdrawn = EvidenceWithdrawnV1(
        evidence_id="ev-1", learner_id="learner-1", withdrawn_at=submitted().time
    )
    await review.on_evidence_withdrawn(
        Envelope.wrap(withdrawn, source="/t", subject="ev-1", tenant=TENANT)
    )
    with pytest.raises(ProblemError) as refused:
        await review.decide(TENANT, "ev-1", APPROVE, "eva")
    assert refused.value.status == 409
    assert reviewed(review) == []


@pytest.mark.integration
async def test_no_one_decides_on_their_own_evidence(review: Review) -> None:
    with pytest.raises(ProblemError) as own:
        await review.decide(TENANT, "ev-1", APPROVE, "learner-1")  # the sample's learner
    assert own.value.status == 403
    assert reviewed(review) == []


@pytest.mark.integration
async def test_another_institution_cannot_decide(review: Review) -> None:
    with pytest.raises(ProblemError) as unknown:
        await review.decide("inst-b", "ev-1", APPROVE, "e")
    assert unknown.value.status == 404
    assert await review.pending("inst-b", 10) == []
    assert reviewed(review) == []
