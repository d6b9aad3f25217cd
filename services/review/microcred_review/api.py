"""Review's HTTP API: the evaluator's workspace.

Every route needs an access token from intake, verified with intake's published key set; the
caller must be an evaluator (or administrator) of the institution in the path.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from microcred_review.domain import DecisionRequest, DecisionTimes, ReversalRequest
from microcred_review.handlers import Review
from microcred_shared.auth import Principal, Role
from microcred_shared.contracts.envelope import Identifier
from microcred_shared.http import ProblemError, TokenCaller


def _review(request: Request) -> Review:
    review: Review = request.app.state.review
    return review


ReviewDep = Annotated[Review, Depends(_review)]
Caller = TokenCaller

router = APIRouter(tags=["review"])


def require(caller: Principal, institution_id: str, *roles: Role) -> None:
    if not caller.has_role(institution_id, *roles):
        raise ProblemError(403, "Forbidden", f"you are no evaluator at {institution_id}")


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    return {"evidence_id": item.pop("_id"), **item}


@router.get("/institutions/{institution_id}/queue")
async def pending_evidence(
    institution_id: Identifier,
    review: ReviewDep,
    caller: Caller,
    competence: Identifier | None = None,
    learner: Identifier | None = None,
    older_than_hours: Annotated[float | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Evidence waiting for a decision, oldest first; filter by competence, learner or age."""
    require(caller, institution_id, "evaluator")
    age = timedelta(hours=older_than_hours) if older_than_hours is not None else None
    items = await review.pending(institution_id, limit, competence, learner, age)
    return [_shown(item) for item in items]


@router.get("/institutions/{institution_id}/queue/{evidence_id}")
async def show(
    institution_id: Identifier, evidence_id: Identifier, review: ReviewDep, caller: Caller
) -> dict[str, Any]:
    """One piece of evidence with its files' references, decision and audit trail."""
    require(caller, institution_id, "evaluator")
    item = await review.item(institution_id, evidence_id)
    if item is None:
        raise ProblemError(404, "Unknown evidence", evidence_id)
    return _shown(item)


@router.post("/institutions/{institution_id}/queue/{evidence_id}/claim")
async def claim(
    institution_id: Identifier, evidence_id: Identifier, review: ReviewDep, caller: Caller
) -> dict[str, Any]:
    """Reserve the evidence for 30 minutes, so that no other evaluator reviews it meanwhile."""
    require(caller, institution_id, "evaluator")
    return _shown(await review.claim(institution_id, evidence_id, caller.user_id))


@router.post("/institutions/{institution_id}/queue/{evidence_id}/release")
async def release(
    institution_id: Identifier, evidence_id: Identifier, review: ReviewDep, caller: Caller
) -> dict[str, Any]:
    """Give up one's claim."""
    require(caller, institution_id, "evaluator")
    return _shown(await review.release(institution_id, evidence_id, caller.user_id))


@router.post("/institutions/{institution_id}/queue/{evidence_id}/decision")
async def decide(
    institution_id: Identifier,
    evidence_id: Identifier,
    body: DecisionRequest,
    review: ReviewDep,
    caller: Caller,
) -> dict[str, Any]:
    """Approve (all or part of the hours claimed), reject, or request changes."""
    require(caller, institution_id, "evaluator")
    return await review.decide(institution_id, evidence_id, body, caller.user_id)


@router.post("/institutions/{institution_id}/queue/{evidence_id}/reversal")
async def reverse(
    institution_id: Identifier,
    evidence_id: Identifier,
    body: ReversalRequest,
    review: ReviewDep,
    caller: Caller,
) -> dict[str, Any]:
    """Overturn an approval (institution administrators); the hours leave the ledger."""
    require(caller, institution_id, "institution_admin")
    return await review.reverse(institution_id, evidence_id, body, caller.user_id)


@router.get("/institutions/{institution_id}/decision-times")
async def times(institution_id: Identifier, review: ReviewDep, caller: Caller) -> DecisionTimes:
    """How long evidence waits for a decision at the institution."""
    require(caller, institution_id, "evaluator")
    return await review.decision_times(institution_id)
