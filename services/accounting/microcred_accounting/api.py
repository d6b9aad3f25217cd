"""Accounting's HTTP API: a learner's progress toward each competence.

A learner sees their own progress; the institution's evaluators and administrators see any of
its learners'. Callers bring an access token from intake.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from microcred_accounting.handlers import Accounting
from microcred_shared.contracts.envelope import Identifier
from microcred_shared.http import ProblemError, TokenCaller, from_app_state

AccountingDep = Annotated[Accounting, Depends(from_app_state("accounting"))]
Caller = TokenCaller

router = APIRouter(tags=["ledger"])


@router.get("/institutions/{institution_id}/learners/{learner_id}/progress")
async def progress(
    institution_id: Identifier, learner_id: Identifier, accounting: AccountingDep, caller: Caller
) -> list[dict[str, Any]]:
    """Approved hours per competence, and whether the competence is awarded."""
    own = caller.user_id == learner_id and "learner" in caller.roles_in(institution_id)
    if not own and not caller.has_role(institution_id, "evaluator"):
        raise ProblemError(403, "Forbidden", "only the learner and the institution's staff")
    return await accounting.progress(institution_id, learner_id)
