"""The built-in reviewer (the evaluator's workspace) on a real MongoDB-protocol server.

Queue, claims, decisions, second approvals, reversals, audit trail, decision times; every
decision travels through the gateway to an evidence-reviewed event.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pytest
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from microcred_review.domain import (
    DecisionRequest,
    ReversalRequest,
    ReviewPolicy,
    decision_times,
    outcome,
)
from microcred_review.testing import Rig, rig
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.events import EvidenceRecord, EvidenceWithdrawnV1
from microcred_shared.http import ProblemError
from microcred_shared.testing.samples import submitted

TENANT = "inst-a"
APPROVE = DecisionRequest(decision="approve")


@pytest.fixture
async def review(database: AsyncDatabase[Any]) -> Rig:
    service = await rig(database)
    await service.submit(submitted(tenant=TENANT))
    return service


async def decide(
    review: Rig, request: DecisionRequest, evaluator: str, evidence: str = "ev-1"
) -> dict[str, Any]:
    decision = await review.workspace.decide(TENANT, evidence, request, evaluator)
    await review.pump()
    return decision


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
async def test_redelivered_submission_is_queued_once(review: Rig) -> None:
    await review.submit(submitted(tenant=TENANT))
    await review.deliver(*review.publisher.published[0][::2])  # the request, delivered again
    assert [item["_id"] for item in await review.workspace.listing(TENANT, 10)] == ["ev-1"]
    assert await review.workspace.listing(TENANT, 10, competence_id="c-1") != []
    assert await review.workspace.listing(TENANT, 10, competence_id="other") == []
    assert await review.workspace.listing(TENANT, 10, learner_id="someone-else") == []
    assert await review.workspace.listing(TENANT, 10, older_than=timedelta(days=1)) == []
    assert review.created_topics == [
        "microcred.review.inst-a.requests.v1",
        "microcred.review.inst-a.decisions.v1",
        "microcred.review.inst-a.requests.v1.dlq",
        "microcred.review.inst-a.decisions.v1.dlq",
    ]


@pytest.mark.integration
async def test_approval_defaults_to_all_hours_and_publishes_once(review: Rig) -> None:
    decision = await decide(review, APPROVE, "eva")
    again = await decide(review, APPROVE, "eva")  # a retried request

    assert decision["decision"] == "approved"
    assert decision["approved_hours"] == "30"
    assert decision["status"] == "decided"
    assert again["id"] == decision["id"]
    [event] = review.reviewed()
    assert event["data"]["approved_hours"] == "30"
    assert event["data"]["evaluator_id"] == "eva"
    assert event["data"]["decision_id"] == decision["id"]
    assert event["tenant"] == TENANT
    assert await review.workspace.listing(TENANT, 10) == []
    assert [i["_id"] for i in await review.workspace.listing(TENANT, 10, "decided")] == ["ev-1"]
    item = await review.workspace.item(TENANT, "ev-1")
    assert item is not None
    assert [entry["action"] for entry in item["audit"]] == ["queued", "approved"]
    assert (await review.workspace.decision_times(TENANT)).decided == 1


@pytest.mark.integration
async def test_claims_keep_other_evaluators_off(review: Rig) -> None:
    await review.workspace.claim(TENANT, "ev-1", "eva")
    with pytest.raises(ProblemError) as taken:
        await review.workspace.claim(TENANT, "ev-1", "bob")
    assert taken.value.status == 409
    with pytest.raises(ProblemError) as blocked:
        await decide(review, APPROVE, "bob")
    assert blocked.value.status == 409
    await review.workspace.release(TENANT, "ev-1", "eva")
    await review.workspace.claim(TENANT, "ev-1", "bob")
    await decide(review, APPROVE, "bob")
    assert len(review.reviewed()) == 1


@pytest.mark.integration
async def test_partial_approval_refusals_and_conflicts(review: Rig) -> None:
    with pytest.raises(ProblemError) as too_many:
        await decide(review, DecisionRequest(decision="approve", approved_hours=Decimal(31)), "e")
    assert too_many.value.status == 422
    partial = await decide(
        review, DecisionRequest(decision="approve", approved_hours=Decimal("12.5")), "e"
    )
    assert partial["approved_hours"] == "12.5"
    with pytest.raises(ProblemError) as conflict:
        await decide(review, DecisionRequest(decision="reject", reason="no"), "e")
    assert conflict.value.status == 409
    [event] = review.reviewed()
    assert event["data"]["approved_hours"] == "12.5"


@pytest.mark.integration
async def test_changes_requested_then_reversal_of_an_approval(review: Rig) -> None:
    changes = DecisionRequest(decision="request_changes", reason="Add the second page.")
    assert (await decide(review, changes, "eva"))["decision"] == "changes_requested"
    with pytest.raises(ProblemError) as not_approved:
        await review.workspace.reverse(TENANT, "ev-1", ReversalRequest(reason="x"), "admin")
    assert not_approved.value.status == 409

    await review.submit(submitted(tenant=TENANT, evidence_id="ev-2"))
    await decide(review, APPROVE, "eva", "ev-2")
    reversal = await review.workspace.reverse(
        TENANT, "ev-2", ReversalRequest(reason="The certificate was forged."), "admin"
    )
    await review.pump()
    again = await review.workspace.reverse(
        TENANT, "ev-2", ReversalRequest(reason="The certificate was forged."), "admin"
    )
    assert again["id"] == reversal["id"]  # a retried request
    assert reversal["decision"] == "reversed"
    decisions = [e["data"]["decision"] for e in review.reviewed()]
    assert decisions == ["changes_requested", "approved", "reversed"]
    assert review.reviewed()[-1]["data"]["reason"] == "The certificate was forged."
    assert review.refused == []


@pytest.mark.integration
async def test_withdrawn_evidence_cannot_be_decided(review: Rig) -> None:
    withdrawn = EvidenceWithdrawnV1(
        evidence_id="ev-1", learner_id="learner-1", withdrawn_at=submitted().time
    )
    await review.gateway.on_evidence_withdrawn(
        Envelope.wrap(withdrawn, source="/t", subject="ev-1", tenant=TENANT)
    )
    with pytest.raises(ProblemError) as refused:
        await decide(review, APPROVE, "eva")
    assert refused.value.status == 409
    assert review.reviewed() == []
    assert [i["_id"] for i in await review.workspace.listing(TENANT, 5, "withdrawn")] == ["ev-1"]


@pytest.mark.integration
async def test_no_one_decides_on_their_own_evidence(review: Rig) -> None:
    with pytest.raises(ProblemError) as own:
        await decide(review, APPROVE, "learner-1")  # the sample's learner
    assert own.value.status == 403
    assert review.reviewed() == []


@pytest.mark.integration
async def test_another_institution_cannot_decide(review: Rig) -> None:
    with pytest.raises(ProblemError) as unknown:
        await review.workspace.decide("inst-b", "ev-1", APPROVE, "e")
    assert unknown.value.status == 404
    assert await review.workspace.listing("inst-b", 10) == []
    assert review.reviewed() == []


@pytest.mark.integration
async def test_approvals_above_the_threshold_need_a_second_evaluator(
    database: AsyncDatabase[Any],
) -> None:
    review = await rig(database)
    await review.institutions.configure(
        TENANT, ReviewPolicy(second_approval_above_hours=Decimal(20))
    )
    await review.submit(submitted(tenant=TENANT, evidence_id="big"))
    await review.submit(submitted(tenant=TENANT, evidence_id="small", hours=Decimal(10)))

    first = await decide(review, APPROVE, "eva", "big")
    assert first["status"] == "awaiting_second_approval"
    assert review.reviewed() == []
    [waiting] = await review.workspace.listing(TENANT, 10, "awaiting_second_approval")
    assert waiting["first_approval"]["evaluator_id"] == "eva"
    retried = await decide(review, APPROVE, "eva", "big")
    assert retried["status"] == "awaiting_second_approval"
    with pytest.raises(ProblemError) as same:
        await decide(
            review, DecisionRequest(decision="approve", approved_hours=Decimal(25)), "eva", "big"
        )
    assert same.value.status == 409
    assert "another evaluator" in same.value.detail
    with pytest.raises(ProblemError) as own:
        await decide(review, APPROVE, "learner-1", "big")
    assert own.value.status == 403

    with pytest.raises(ProblemError) as own_claim:
        await review.workspace.claim(TENANT, "big", "eva")
    assert own_claim.value.detail == "the second approval must come from another evaluator"
    second = await decide(review, APPROVE, "bob", "big")
    assert second["status"] == "decided"
    await decide(review, APPROVE, "eva", "small")  # below the threshold: one is enough
    big, small = review.reviewed()
    assert (big["data"]["evaluator_id"], big["data"]["second_evaluator_id"]) == ("eva", "bob")
    assert big["data"]["approved_hours"] == "30"
    assert (small["data"]["evaluator_id"], small["data"]["second_evaluator_id"]) == ("eva", None)
    item = await review.workspace.item(TENANT, "big")
    assert item is not None
    assert [e["action"] for e in item["audit"]] == ["queued", "first_approval", "approved"]


@pytest.mark.integration
async def test_a_second_evaluator_may_reject_a_first_approval(database: AsyncDatabase[Any]) -> None:
    review = await rig(database)
    await review.institutions.configure(
        TENANT, ReviewPolicy(second_approval_above_hours=Decimal(1))
    )
    await review.submit(submitted(tenant=TENANT))
    await decide(review, APPROVE, "eva")
    rejected = await decide(review, DecisionRequest(decision="reject", reason="Not enough."), "bob")
    assert rejected["decision"] == "rejected"
    [event] = review.reviewed()
    assert event["data"]["decision"] == "rejected"
    assert event["data"]["approved_hours"] == "0"


@pytest.mark.integration
async def test_the_builtin_reviewer_leaves_external_institutions_and_foreign_requests(
    database: AsyncDatabase[Any],
) -> None:
    review = await rig(database)
    await review.institutions.configure("inst-x", ReviewPolicy(mode="external"))
    await review.submit(submitted(tenant="inst-x"))
    assert await review.workspace.listing("inst-x", 10) == []

    # A request of institution B on A's request topic: the reviewer of A does not take it.
    foreign = submitted(tenant="inst-b", evidence_id="ev-f")
    await review.gateway.on_evidence_submitted(foreign)
    topic, _, request = review.publisher.published[-1]
    assert topic == "microcred.review.inst-b.requests.v1"
    await review.deliver("microcred.review.inst-a.requests.v1", request)
    assert await review.workspace.item("inst-b", "ev-f") is None
    assert await review.workspace.item(TENANT, "ev-f") is None


@pytest.mark.integration
async def test_a_claim_taken_after_reading_the_item_wins(review: Rig) -> None:
    stale = await review.workspace.item(TENANT, "ev-1")  # eva reads the open item...
    assert stale is not None
    await review.workspace.claim(TENANT, "ev-1", "bob")  # ...bob claims it...
    evidence = EvidenceRecord.model_validate(stale["submitted"])
    result = outcome(
        evidence,
        APPROVE,
        evaluator_id="eva",
        decided_at=datetime.now(UTC),
        decision_id="d-eva",
        second_approval_above=None,
        first_approval=None,
    )
    assert result.decision is not None
    with pytest.raises(ProblemError) as lost:  # ...and eva's write, checked before, must fail
        await review.workspace._record(stale, "decided", result.decision, {"id": "d-eva"}, "eva")
    assert (lost.value.status, lost.value.title) == (409, "Claimed")
    await review.pump()
    assert review.reviewed() == []
