"""Intake's HTTP API.

Accounts and roles arrive with the accounts work; until then every route is open and scoped
by the institution in its path.
"""

from __future__ import annotations

import uuid
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pymongo.errors import DuplicateKeyError

from microcred_intake.domain import EvidenceForm, InstitutionCreate, LearnerCreate
from microcred_intake.handlers import IncomingFile, Intake, public_record
from microcred_shared.contracts.envelope import Identifier
from microcred_shared.http import ProblemError


def _intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


IntakeDep = Annotated[Intake, Depends(_intake)]

router = APIRouter()


@router.post("/institutions", status_code=HTTPStatus.CREATED, tags=["institutions"])
async def onboard_institution(body: InstitutionCreate, intake: IntakeDep) -> dict[str, Any]:
    """Onboard an institution with its competence catalogue."""
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


@router.post(
    "/institutions/{institution_id}/learners", status_code=HTTPStatus.CREATED, tags=["learners"]
)
async def register_learner(
    institution_id: Identifier, body: LearnerCreate, intake: IntakeDep
) -> dict[str, Any]:
    """Register a learner with an institution."""
    if await intake.store.institution(institution_id) is None:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown institution", institution_id)
    learner_id = str(uuid.uuid4())
    try:
        await intake.store.add_learner(institution_id, learner_id, body)
    except DuplicateKeyError as exc:  # pragma: no cover - a uuid4 collision
        raise ProblemError(HTTPStatus.CONFLICT, "Learner exists") from exc
    return {"id": learner_id, "institution_id": institution_id, **body.model_dump()}


@router.post(
    "/institutions/{institution_id}/evidence",
    status_code=HTTPStatus.CREATED,
    tags=["evidence"],
    responses={
        413: {"description": "A file is larger than allowed."},
        422: {"description": "The form, a file or the competence is not acceptable."},
    },
)
async def upload_evidence(
    institution_id: Identifier,
    form: Annotated[EvidenceForm, Form()],
    files: Annotated[list[UploadFile], File(description="One or more PDF, PNG or JPEG files.")],
    intake: IntakeDep,
) -> dict[str, Any]:
    """Upload a piece of evidence (multipart form) for a competence of the catalogue."""
    incoming = [IncomingFile(filename=f.filename, stream=f.file) for f in files]
    return await intake.submit_evidence(institution_id, form, incoming)


@router.get("/institutions/{institution_id}/evidence/{evidence_id}", tags=["evidence"])
async def show_evidence(
    institution_id: Identifier, evidence_id: Identifier, intake: IntakeDep
) -> dict[str, Any]:
    """One evidence record with its status."""
    record = await intake.store.evidence_record(institution_id, evidence_id)
    if record is None:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown evidence", evidence_id)
    return public_record(record)


@router.get("/institutions/{institution_id}/learners/{learner_id}/evidence", tags=["evidence"])
async def list_evidence(
    institution_id: Identifier, learner_id: Identifier, intake: IntakeDep
) -> list[dict[str, Any]]:
    """A learner's evidence, oldest first, with each one's status."""
    return [public_record(r) for r in await intake.store.evidence_of(institution_id, learner_id)]
