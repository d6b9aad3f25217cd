"""Accounting's HTTP API: a learner's progress toward each competence."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from microcred_accounting.handlers import Accounting
from microcred_shared.contracts.envelope import Identifier


def _accounting(request: Request) -> Accounting:
    accounting: Accounting = request.app.state.accounting
    return accounting


AccountingDep = Annotated[Accounting, Depends(_accounting)]

router = APIRouter(tags=["ledger"])


@router.get("/institutions/{institution_id}/learners/{learner_id}/progress")
async def progress(
    institution_id: Identifier, learner_id: Identifier, accounting: AccountingDep
) -> list[dict[str, Any]]:
    """Approved hours per competence, and whether the competence is awarded."""
    return await accounting.progress(institution_id, learner_id)
