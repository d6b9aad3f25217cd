"""The issuer's HTTP API: DID documents and key sets, credentials and their status.

Verification is ``POST /verify`` (``verification.api``) and the VC-API (``vcapi``).
"""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from microcred_issuer.credential import did_document, public_jwk
from microcred_issuer.handlers import Issuer, Status
from microcred_issuer.statuslist import Purpose
from microcred_shared.contracts.envelope import Identifier
from microcred_shared.http import ProblemError, TokenCaller, from_app_state, require_role

IssuerDep = Annotated[Issuer, Depends(from_app_state("issuer"))]

router = APIRouter()

#: Verifiers may keep a status list this long before asking again (then a conditional request,
#: answered 304 while nothing changed): a revocation reaches every verifier within a minute,
#: and a verifier checking many credentials of one institution asks once.
STATUS_LIST_MAX_AGE_SECONDS = 60
VC_LD_JSON = "application/vc+ld+json"


class StatusResponse(BaseModel):
    """A credential's status (``active``, ``revoked`` or ``suspended``, from its status list bits).

    Public, so it names nothing of the learner, nor why it was revoked.

    The reason is an administrator's free text that may quote the learner's evidence, and
    anyone a credential was ever shown to may ask; the learner reads it on their own dashboard.
    """

    credential_id: str
    status: Status
    revoked_at: datetime | None = Field(default=None, description="When it was revoked.")


@router.get("/institutions/{institution_id}/did.json", tags=["identity"])
async def did_json(institution_id: Identifier, issuer: IssuerDep) -> JSONResponse:
    """The institution's ``did:web`` document with its Multikey verification methods."""
    keys = await issuer.keys.public_keys(institution_id)
    if not keys:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown issuer", institution_id)
    return JSONResponse(
        did_document(issuer.did(institution_id), keys), media_type="application/did+json"
    )


@router.get("/institutions/{institution_id}/jwks.json", tags=["identity"])
async def jwks(institution_id: Identifier, issuer: IssuerDep) -> dict[str, Any]:
    """The institution's public keys as a JWK Set."""
    did = issuer.did(institution_id)
    return {"keys": [public_jwk(did, k) for k in await issuer.keys.public_keys(institution_id)]}


@router.get("/credentials/{credential_id}", tags=["credentials"])
async def show_credential(credential_id: str, issuer: IssuerDep) -> dict[str, Any]:
    """A credential as issued: JSON-LD and VC-JWT.

    Its id is its private full-disclosure link (unguessable: ``credential.credential_id_for``),
    held by the learner; public sharing goes through the notifier's share links.
    """
    document = await issuer.credential(credential_id)
    if document is None:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown credential", credential_id)
    return {
        "credential": document["credential"],
        "credential_jwt": document["credential_jwt"],
        "verification_method": document["verification_method"],
    }


@router.get("/credentials/{credential_id}/status", tags=["credentials"])
async def credential_status(credential_id: str, issuer: IssuerDep) -> StatusResponse:
    """Whether a credential stands or was revoked, and when; never why (see ``StatusResponse``)."""
    status = await issuer.status(credential_id)
    if status is None:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown credential", credential_id)
    return StatusResponse(
        credential_id=credential_id, status=status.status, revoked_at=status.revoked_at
    )


@router.get("/institutions/{institution_id}/status/{purpose}", tags=["status lists"])
async def status_list(
    institution_id: Identifier, purpose: Purpose, request: Request, issuer: IssuerDep
) -> Response:
    """The institution's (first) signed ``BitstringStatusListCredential`` for ``purpose``.

    Public, as verifiers need it. A bit changed is in the very next answer (the list is signed
    again on the first read after a change). ``ETag`` names the signed version; a conditional
    request with it is answered 304 while it stands.
    """
    return await _status_list(issuer, request, institution_id, purpose, 0)


@router.get("/institutions/{institution_id}/status/{purpose}/{list_number}", tags=["status lists"])
async def numbered_status_list(
    institution_id: Identifier,
    purpose: Purpose,
    list_number: Annotated[int, Path(ge=1, le=1_000_000)],
    request: Request,
    issuer: IssuerDep,
) -> Response:
    """One of the lists opened after the first filled up (each takes 65,536 credentials)."""
    return await _status_list(issuer, request, institution_id, purpose, list_number)


async def _status_list(
    issuer: Issuer, request: Request, institution_id: str, purpose: Purpose, list_number: int
) -> Response:
    signed = await issuer.status_lists.signed(institution_id, purpose, list_number)
    if signed is None:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown status list", request.url.path)
    headers = {
        "ETag": signed.etag,
        "Cache-Control": f"public, max-age={STATUS_LIST_MAX_AGE_SECONDS}, must-revalidate",
    }
    if signed.etag in _etags(request.headers.get("If-None-Match", "")):
        return Response(status_code=HTTPStatus.NOT_MODIFIED, headers=headers)
    return JSONResponse(signed.credential, media_type=VC_LD_JSON, headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


@router.put(
    "/institutions/{institution_id}/credentials/{credential_id}/suspension",
    tags=["status lists"],
    status_code=204,
)
async def suspend(
    institution_id: Identifier, credential_id: str, issuer: IssuerDep, caller: TokenCaller
) -> Response:
    """Suspend one of the institution's credentials (institution admins only; idempotent).

    It fails verification (``status`` "suspended") until the suspension is lifted.
    """
    await _set_suspension(issuer, caller, institution_id, credential_id, suspended=True)
    return Response(status_code=HTTPStatus.NO_CONTENT)


@router.delete(
    "/institutions/{institution_id}/credentials/{credential_id}/suspension",
    tags=["status lists"],
    status_code=204,
)
async def lift_suspension(
    institution_id: Identifier, credential_id: str, issuer: IssuerDep, caller: TokenCaller
) -> Response:
    """Lift a suspension (institution admins only; idempotent: lifting none is no error)."""
    await _set_suspension(issuer, caller, institution_id, credential_id, suspended=False)
    return Response(status_code=HTTPStatus.NO_CONTENT)


async def _set_suspension(
    issuer: Issuer, caller: Any, institution_id: str, credential_id: str, *, suspended: bool
) -> None:
    require_role(caller, institution_id, "institution_admin")
    try:
        found = await issuer.suspend(institution_id, credential_id, suspended=suspended)
    except ValueError as exc:
        raise ProblemError(HTTPStatus.CONFLICT, "No suspension list entry", str(exc)) from exc
    if not found:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown credential", credential_id)
