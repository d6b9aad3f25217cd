"""The notifier's HTTP pages: the claim link's landing page and its downloads."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from microcred_notifier.handlers import Notifier, templates
from microcred_shared.http import ProblemError
from microcred_shared.mongo import Document


def _notifier(request: Request) -> Notifier:
    notifier: Notifier = request.app.state.notifier
    return notifier


NotifierDep = Annotated[Notifier, Depends(_notifier)]

router = APIRouter(tags=["claim"])


async def _claim(token: str, notifier: Notifier) -> Document:
    claim = await notifier.claim_for(token)
    if claim is None:
        raise ProblemError(
            HTTPStatus.NOT_FOUND, "Unknown or expired claim link", "ask for a new link"
        )
    return claim


@router.get("/claim/{token}", response_class=HTMLResponse)
async def claim_page(token: str, notifier: NotifierDep) -> HTMLResponse:
    """The page a claim link opens: the credential and its downloads."""
    claim = await _claim(token, notifier)
    page = templates.get_template("claim_page.html.j2").render(
        title=claim["title"],
        institution_name=claim["institution_name"],
        learner_name=claim["learner"]["name"],
        issued_on=claim["issued_at"].date().isoformat(),
        revoked_on=claim["revoked_at"].date().isoformat() if claim.get("revoked_at") else None,
        credential_id=claim["_id"],
        verification_method=claim["verification_method"],
        json_url=f"/claim/{token}/credential.json",
        jwt_url=f"/claim/{token}/credential.jwt",
    )
    return HTMLResponse(
        page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


@router.get("/claim/{token}/credential.json")
async def download_json(token: str, notifier: NotifierDep) -> Response:
    """The credential as JSON-LD."""
    claim = await _claim(token, notifier)
    return Response(
        json.dumps(claim["credential"], indent=2),
        media_type="application/vc+ld+json",
        headers={"Content-Disposition": 'attachment; filename="credential.json"'},
    )


@router.get("/claim/{token}/credential.jwt")
async def download_jwt(token: str, notifier: NotifierDep) -> Response:
    """The credential as a VC-JWT."""
    claim = await _claim(token, notifier)
    return Response(
        claim["credential_jwt"],
        media_type="application/vc+jwt",
        headers={"Content-Disposition": 'attachment; filename="credential.jwt"'},
    )
