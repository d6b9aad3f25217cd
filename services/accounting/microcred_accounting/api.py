"""Accounting's HTTP API: progress, the institution's report, and its pathways.

A learner sees their own progress; the institution's evaluators and administrators see any of
its learners', and its report. Institution administrators define pathways. Callers bring an
access token from intake.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from microcred_accounting.handlers import Accounting
from microcred_accounting.pathways import PathwayDefinition
from microcred_accounting.reports import ReadSide, ReportTable, report_csv
from microcred_shared.contracts.envelope import Identifier, InstitutionId
from microcred_shared.http import ProblemError, TokenCaller, from_app_state, require_role
from microcred_shared.mongo import Document

AccountingDep = Annotated[Accounting, Depends(from_app_state("accounting"))]
ReadSideDep = Annotated[ReadSide, Depends(from_app_state("read_side"))]
Caller = TokenCaller
Months = Annotated[int, Query(ge=1, le=60, description="How many months, ending with this one.")]

router = APIRouter(tags=["ledger"])


@router.get("/institutions/{institution_id}/learners/{learner_id}/progress")
async def progress(
    institution_id: InstitutionId, learner_id: Identifier, read_side: ReadSideDep, caller: Caller
) -> dict[str, Any]:
    """Hours and ECTS per competence, and each pathway of the institution, with award states."""
    own = caller.user_id == learner_id and "learner" in caller.roles_in(institution_id)
    if not own and not caller.has_role(institution_id, "evaluator"):
        raise ProblemError(403, "Forbidden", "only the learner and the institution's staff")
    return await read_side.progress(institution_id, learner_id)


@router.get("/institutions/{institution_id}/report")
async def report(
    institution_id: InstitutionId, read_side: ReadSideDep, caller: Caller, months: Months = 12
) -> dict[str, Any]:
    """Hours approved, awards per month and per competence, and evidence awaiting a decision."""
    require_role(caller, institution_id, "evaluator")
    return await read_side.report(institution_id, months)


@router.get(
    "/institutions/{institution_id}/report.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "One table of the report."}},
)
async def report_as_csv(
    institution_id: InstitutionId,
    read_side: ReadSideDep,
    caller: Caller,
    table: ReportTable = "competences",
    months: Months = 12,
) -> Response:
    """One of the report's tables (per competence, or per month) as CSV."""
    require_role(caller, institution_id, "evaluator")
    figures = await read_side.report(institution_id, months)
    return Response(
        report_csv(figures, table),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{institution_id}-{table}.csv"'},
    )


def _shown(pathway: Document) -> dict[str, Any]:
    return {
        "pathway_id": pathway["pathway_id"],
        "institution_id": pathway["institution_id"],
        **pathway["definition"],
        "updated_at": pathway["updated_at"],
    }


@router.put("/institutions/{institution_id}/pathways/{pathway_id}")
async def define_pathway(
    institution_id: InstitutionId,
    pathway_id: Identifier,
    definition: PathwayDefinition,
    accounting: AccountingDep,
    caller: Caller,
) -> dict[str, Any]:
    """Define or redefine a pathway; learners who already complete it are awarded it now.

    A partner's competences count once the partner shares its awards with this institution
    (``PUT /institutions/{partner}/award-sharing/{institution}``). A redefinition never takes
    back a pathway credential already awarded.
    """
    require_role(caller, institution_id, "institution_admin")
    problems = definition.check_for(institution_id)
    if problems:
        raise ProblemError(422, "Invalid pathway", "; ".join(problems))
    return _shown(await accounting.stacking.define(institution_id, pathway_id, definition))


@router.get("/institutions/{institution_id}/pathways")
async def pathways(
    institution_id: InstitutionId, accounting: AccountingDep, caller: Caller
) -> list[dict[str, Any]]:
    """The institution's pathways (anyone with a role at the institution)."""
    require_role(caller, institution_id, "learner", "evaluator")
    return [_shown(p) for p in await accounting.stacking.institution_pathways(institution_id)]


@router.get("/institutions/{institution_id}/pathways/{pathway_id}")
async def pathway(
    institution_id: InstitutionId, pathway_id: Identifier, accounting: AccountingDep, caller: Caller
) -> dict[str, Any]:
    require_role(caller, institution_id, "learner", "evaluator")
    found = await accounting.stacking.pathway(institution_id, pathway_id)
    if found is None:
        raise ProblemError(404, "Not found", f"no pathway {pathway_id} at {institution_id}")
    return _shown(found)


def _shown_sharing(document: Document) -> dict[str, Any]:
    return {
        "institution_id": document["partner_id"],
        "shares_awards_with": document["awarding_id"],
        "since": document["since"],
    }


@router.put("/institutions/{institution_id}/award-sharing/{awarding_id}")
async def share_awards(
    institution_id: InstitutionId,
    awarding_id: InstitutionId,
    accounting: AccountingDep,
    caller: Caller,
) -> dict[str, Any]:
    """Let this institution's competence awards count toward ``awarding_id``'s pathways.

    Institution administrators of this institution only: a pathway naming it as a partner
    counts nothing of it until it agrees. Learners who now complete such a pathway are awarded
    it at once.
    """
    require_role(caller, institution_id, "institution_admin")
    if awarding_id == institution_id:
        raise ProblemError(422, "Invalid partner", "an institution's own awards always count")
    return _shown_sharing(await accounting.stacking.share(institution_id, awarding_id))


@router.delete("/institutions/{institution_id}/award-sharing/{awarding_id}", status_code=204)
async def stop_sharing_awards(
    institution_id: InstitutionId,
    awarding_id: InstitutionId,
    accounting: AccountingDep,
    caller: Caller,
) -> Response:
    """Stop counting this institution's awards toward ``awarding_id``'s pathways.

    Pathway credentials already awarded stand.
    """
    require_role(caller, institution_id, "institution_admin")
    if not await accounting.stacking.stop_sharing(institution_id, awarding_id):
        raise ProblemError(404, "Not found", f"{institution_id} shares nothing with {awarding_id}")
    return Response(status_code=204)


@router.get("/institutions/{institution_id}/award-sharing")
async def award_sharing(
    institution_id: InstitutionId, accounting: AccountingDep, caller: Caller
) -> list[dict[str, Any]]:
    """The institutions this one shares its awards with."""
    require_role(caller, institution_id, "evaluator")
    return [_shown_sharing(d) for d in await accounting.stacking.shared_with(institution_id)]
