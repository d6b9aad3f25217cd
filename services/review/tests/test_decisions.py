"""Queueing evidence and recording decisions, on a real MongoDB-protocol server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from pymongo.asynchronous.database import AsyncDatabase

from microcred_review.domain import DecisionRequest
from microcred_review.handlers import Review
from microcred_shared.contracts import topics
from microcred_shared.http import ProblemError
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.samples import submitted

TENANT = "inst-a"


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
def test_a_rejection_needs_a_reason_and_approves_nothing() -> None:
    with pytest.raises(ValidationError, match="needs a reason"):
        DecisionRequest(decision="reject", evaluator_id="e")
    with pytest.raises(ValidationError, match="approves no hours"):
        DecisionRequest(decision="reject", evaluator_id="e", reason="r", approved_hours=Decimal(1))


@pytest.mark.integration
async def test_redelivered_submission_is_queued_once(review: Review) -> None:
    await review.on_evidence_submitted(submitted(tenant=TENANT))
    assert [item["_id"] for item in await review.pending(TENANT, 10)] == ["ev-1"]


@pytest.mark.integration
async def test_approval_defaults_to_all_hours_and_publishes_once(review: Review) -> None:
    request = DecisionRequest(decision="approve", evaluator_id="eva")
    decision = await review.decide(TENANT, "ev-1", request)
    again = await review.decide(TENANT, "ev-1", request)  # a retried request

    assert decision["decision"] == "approved"
    assert decision["approved_hours"] == "30"
    assert again["id"] == decision["id"]
    [event] = reviewed(review)
    assert event["data"]["approved_hours"] == "30"
    assert event["data"]["evaluator_id"] == "eva"
    assert event["tenant"] == TENANT
    assert await review.pending(TENANT, 10) == []


@pytest.mark.integration
async def test_partial_approval_and_refusals(review: Review) -> None:
    with pytest.raises(ProblemError) as too_many:
        await review.decide(
            TENANT,
            "ev-1",
            DecisionRequest(decision="approve", evaluator_id="e", approved_hours=Decimal(31)),
        )
    assert too_many.value.status == 422
    partial = await review.decide(
        TENANT,
        "ev-1",
        DecisionRequest(decision="approve", evaluator_id="e", approved_hours=Decimal("12.5")),
    )
    assert partial["approved_hours"] == "12.5"
    with pytest.raises(ProblemError) as conflict:
        await review.decide(
            TENANT, "ev-1", DecisionRequest(decision="reject", evaluator_id="e", reason="no")
        )
    assert conflict.value.status == 409
    assert len(reviewed(review)) == 1


@pytest.mark.integration
async def test_another_institution_cannot_decide(review: Review) -> None:
    with pytest.raises(ProblemError) as unknown:
        await review.decide("inst-b", "ev-1", DecisionRequest(decision="approve", evaluator_id="e"))
    assert unknown.value.status == 404
    assert await review.pending("inst-b", 10) == []
    assert reviewed(review) == []
