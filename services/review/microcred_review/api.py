"""Review's HTTP API: the evaluator's workspace.

Every route needs an access token from intake, verified with intake's published key set; the
caller must be an evaluator (or administrator) of the institution in the path.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from microcred_review.domain import DecisionRequest, DecisionTimes, ReversalRequest, ReviewPolicy
from microcred_review.gateway import Gateway
from microcred_review.institutions import Institutions
from microcred_review.workspace import TRACE_FIELD, QueueStatus, Workspace
from microcred_shared.contracts.envelope import Identifier, InstitutionId
from microcred_shared.http import ProblemError, TokenCaller, from_app_state
from microcred_shared.http import require_role as require

ReviewDep = Annotated[Workspace, Depends(from_app_state("workspace"))]
InstitutionsDep = Annotated[Institutions, Depends(from_app_state("institutions"))]
GatewayDep = Annotated[Gateway, Depends(from_app_state("gateway"))]
Caller = TokenCaller

router = APIRouter(tags=["review"])


def _shown(item: dict[str, Any]) -> dict[str, Any]:
    item.pop(TRACE_FIELD, None)  # the platform's tracing, no one's business at the API
    return {"evidence_id": item.pop("_id"), **item}


@router.get("/institutions/{institution_id}/queue")
async def pending_evidence(
    institution_id: Identifier,
    review: ReviewDep,
    caller: Caller,
    competence: Identifier | None = None,
    learner: Identifier | None = None,
    older_than_hours: Annotated[float | None, Query(ge=0)] = None,
    status: QueueStatus = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    """Evidence by status, oldest first: by default what waits for a decision (``open``).

    Filter by competence, learner or age.
    """
    require(caller, institution_id, "evaluator")
    age = timedelta(hours=older_than_hours) if older_than_hours is not None else None
    items = await review.listing(institution_id, limit, status, competence, learner, age)
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
    """Approve (all or part of the hours claimed), reject, or request changes.

    Where the institution asks for a second approval above some hours, a first approval above
    them answers ``status: awaiting_second_approval``, and another evaluator decides next.
    """
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


@router.get("/institutions/{institution_id}/review-settings")
async def review_settings(
    institution_id: InstitutionId, institutions: InstitutionsDep, caller: Caller
) -> ReviewPolicy:
    """How the institution reviews: builtin or external mode, second approval threshold."""
    require(caller, institution_id, "evaluator")
    return await institutions.policy(institution_id)


@router.put("/institutions/{institution_id}/review-settings")
async def configure_review(
    institution_id: InstitutionId, body: ReviewPolicy, gateway: GatewayDep, caller: Caller
) -> ReviewPolicy:
    """Set the institution's review mode and second-approval threshold (its administrators).

    The institution's request and decision topics are created first, so that an external
    reviewer can subscribe before the first evidence arrives. Evidence awaiting a decision moves
    with the mode: into the workspace (builtin) or out of it (external).
    """
    require(caller, institution_id, "institution_admin")
    return await gateway.change_policy(institution_id, body)
