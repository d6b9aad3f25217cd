"""Intake's HTTP API: institutions and catalogues, evidence, and the learner's dashboard."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from microcred_intake.catalogues import UnknownCatalogueError, available, starter_catalogue
from microcred_intake.dashboard import Dashboard, load
from microcred_intake.deps import (
    AccountsDep,
    Caller,
    IntakeDep,
    accounting_as,
    require_platform_admin,
    require_role,
)
from microcred_intake.domain import EvidenceForm, InstitutionCreate
from microcred_intake.handlers import IncomingFile, Intake, Learner, public_record
from microcred_shared.auth import Principal
from microcred_shared.contracts.envelope import Identifier
from microcred_shared.contracts.events import LearnerProfile
from microcred_shared.http import ProblemError

router = APIRouter()

FilesField = Annotated[
    list[UploadFile], File(description="One or more files (PDF, PNG or JPEG by default).")
]
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "A file was submitted by the same learner already."},
    413: {"description": "A file is larger than allowed."},
    415: {"description": "A file's bytes are not of a type the institution accepts."},
    422: {"description": "The form, the hours, the dates or the competence are not acceptable."},
}


@router.get("/institutions", tags=["institutions"])
async def list_institutions(intake: IntakeDep) -> list[dict[str, Any]]:
    """Institutions a learner can register with."""
    return [
        {"id": d["_id"], "name": d["name"], "country": d["country"], "locales": d["locales"]}
        for d in await intake.store.institutions_list()
    ]


@router.post("/institutions", status_code=HTTPStatus.CREATED, tags=["institutions"])
async def onboard_institution(
    body: InstitutionCreate, caller: Caller, intake: IntakeDep
) -> dict[str, Any]:
    """Onboard an institution with its competence catalogue (platform administrators)."""
    require_platform_admin(caller)
    if not await intake.store.add_institution(body):
        existing = await intake.store.institution(body.id)
        if existing != body:
            raise ProblemError(HTTPStatus.CONFLICT, "Institution exists", body.id)
    return body.model_dump(mode="json")


@router.get("/institutions/{institution_id}", tags=["institutions"])
async def show_institution(institution_id: Identifier, intake: IntakeDep) -> dict[str, Any]:
    """An institution and its competence catalogue."""
    institution = await intake.store.institution(institution_id)
    if institution is None:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown institution", institution_id)
    return institution.model_dump(mode="json")


@router.get("/catalogues", tags=["institutions"])
async def starter_catalogues() -> list[str]:
    """Names of the starter catalogues an institution can import."""
    return available()


@router.post("/institutions/{institution_id}/catalogue/import/{name}", tags=["institutions"])
async def import_catalogue(
    institution_id: Identifier, name: str, caller: Caller, intake: IntakeDep
) -> dict[str, Any]:
    """Add a starter catalogue's competences (DigComp 2.2, GreenComp) to the institution's."""
    require_role(caller, institution_id, "institution_admin")
    institution = await intake.store.institution(institution_id)
    if institution is None:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown institution", institution_id)
    try:
        imported = starter_catalogue(name)
    except UnknownCatalogueError as exc:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown catalogue", str(exc)) from exc
    known = {c.id for c in institution.competences}
    merged = institution.competences + [c for c in imported if c.id not in known]
    await intake.store.replace_catalogue(
        institution_id, [c.model_dump(mode="json") for c in merged]
    )
    return {"imported": len(merged) - len(institution.competences), "total": len(merged)}


async def _learner(caller: Principal, institution_id: str, accounts: AccountsDep) -> Learner:
    # Only a learner membership lets one submit evidence: administrators hold every other role
    # but must not be able to submit evidence and then approve it.
    if "learner" not in caller.roles_in(institution_id):
        raise ProblemError(
            HTTPStatus.FORBIDDEN, "Forbidden", f"you are no learner at {institution_id}"
        )
    user = await accounts.user(caller.user_id)
    locale = user.get("locale", "en") if user else "en"
    return Learner(
        id=caller.user_id,
        profile=LearnerProfile(name=caller.name, email=caller.email, locale=locale),
    )


def _incoming(files: list[UploadFile]) -> list[IncomingFile]:
    return [IncomingFile(filename=f.filename, stream=f.file) for f in files]


@router.post(
    "/institutions/{institution_id}/evidence",
    status_code=HTTPStatus.CREATED,
    tags=["evidence"],
    responses=UPLOAD_RESPONSES,
)
async def upload_evidence(
    institution_id: Identifier,
    form: Annotated[EvidenceForm, Form()],
    files: FilesField,
    caller: Caller,
    intake: IntakeDep,
    accounts: AccountsDep,
) -> dict[str, Any]:
    """Upload a piece of evidence (multipart form) for a competence of the catalogue."""
    learner = await _learner(caller, institution_id, accounts)
    return await intake.submit_evidence(institution_id, learner, form, _incoming(files))


@router.get("/institutions/{institution_id}/evidence", tags=["evidence"])
async def my_evidence(
    institution_id: Identifier, caller: Caller, intake: IntakeDep
) -> list[dict[str, Any]]:
    """The caller's evidence at the institution, oldest first, with each one's status."""
    return [
        public_record(r) for r in await intake.store.evidence_of(institution_id, caller.user_id)
    ]


async def _readable(
    intake: Intake, caller: Principal, institution_id: str, evidence_id: str
) -> dict[str, Any]:
    if caller.has_role(institution_id, "evaluator"):
        record = await intake.store.evidence_record(institution_id, evidence_id)
        if record is None:
            raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown evidence", evidence_id)
        return record
    return await intake.own_evidence(institution_id, caller.user_id, evidence_id)


@router.get("/institutions/{institution_id}/evidence/{evidence_id}", tags=["evidence"])
async def show_evidence(
    institution_id: Identifier, evidence_id: Identifier, caller: Caller, intake: IntakeDep
) -> dict[str, Any]:
    """One piece of evidence: its owner's, or any for the institution's evaluators."""
    return public_record(await _readable(intake, caller, institution_id, evidence_id))


@router.get(
    "/institutions/{institution_id}/evidence/{evidence_id}/files/{index}", tags=["evidence"]
)
async def download_file(
    institution_id: Identifier,
    evidence_id: Identifier,
    index: Annotated[int, Path(ge=0, le=99)],
    caller: Caller,
    intake: IntakeDep,
) -> StreamingResponse:
    """A file of the evidence, for its owner and the institution's evaluators."""
    record = await _readable(intake, caller, institution_id, evidence_id)
    files = record.get("files", [])
    if index >= len(files):
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown file", f"evidence has {len(files)}")
    stored = files[index]
    _, chunks = await intake.objects.open(stored["key"])
    return StreamingResponse(
        iterate_in_threadpool(chunks),
        media_type=stored["content_type"],
        headers={
            "Content-Disposition": f'attachment; filename="{stored["filename"]}"',
            "Content-Length": str(stored["size"]),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.post("/institutions/{institution_id}/evidence/{evidence_id}/withdraw", tags=["evidence"])
async def withdraw_evidence(
    institution_id: Identifier, evidence_id: Identifier, caller: Caller, intake: IntakeDep
) -> dict[str, Any]:
    """Withdraw one's own evidence before any decision on it."""
    return await intake.withdraw(institution_id, caller.user_id, evidence_id)


@router.post(
    "/institutions/{institution_id}/evidence/{evidence_id}/resubmit",
    status_code=HTTPStatus.CREATED,
    tags=["evidence"],
    responses=UPLOAD_RESPONSES,
)
async def resubmit_evidence(
    institution_id: Identifier,
    evidence_id: Identifier,
    form: Annotated[EvidenceForm, Form()],
    files: FilesField,
    caller: Caller,
    intake: IntakeDep,
    accounts: AccountsDep,
) -> dict[str, Any]:
    """Resubmit evidence an evaluator sent back with changes requested."""
    learner = await _learner(caller, institution_id, accounts)
    return await intake.resubmit(institution_id, learner, evidence_id, form, _incoming(files))


@router.get("/institutions/{institution_id}/dashboard", tags=["evidence"])
async def dashboard(
    institution_id: Identifier, caller: Caller, intake: IntakeDep, request: Request
) -> Dashboard:
    """The learner's progress per competence and per pathway of the institution.

    Per competence: approved and pending hours, ECTS, progress, award or revocation (with its
    reason) and badges; per pathway: its rule, components, status and badges.

    Hours, ECTS and awards come from accounting's ledger; ``ledger`` says ``intake`` when
    accounting could not be reached and they come from intake's own records instead.
    """
    institution = await intake.store.institution(institution_id)
    if institution is None:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown institution", institution_id)
    return await load(
        intake.store, await accounting_as(request, caller), institution, caller.user_id
    )
