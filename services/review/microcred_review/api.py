"""Review's HTTP API: the institution's queue and the evaluator's decision."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from microcred_review.domain import DecisionRequest
from microcred_review.handlers import Review
from microcred_shared.contracts.envelope import Identifier


def _review(request: Request) -> Review:
    review: Review = request.app.state.review
    return review


ReviewDep = Annotated[Review, Depends(_review)]

router = APIRouter(tags=["review"])


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    return {"evidence_id": item.pop("_id"), **item}


@router.get("/institutions/{institution_id}/queue")
async def pending_evidence(
    institution_id: Identifier,
    review: ReviewDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Evidence waiting for a decision, oldest first."""
    return [_shown(item) for item in await review.pending(institution_id, limit)]


@router.post("/institutions/{institution_id}/queue/{evidence_id}/decision")
async def decide(
    institution_id: Identifier, evidence_id: Identifier, body: DecisionRequest, review: ReviewDep
) -> dict[str, Any]:
    """Approve (all or part of the hours claimed) or reject a piece of evidence."""
    return await review.decide(institution_id, evidence_id, body)
