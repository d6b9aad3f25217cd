"""The renderings of a credential over HTTP: its baked badge (SVG) and its PDF certificate.

Served, like the credential itself (``GET /credentials/{id}``), to whoever holds the credential's
id: its private full-disclosure link, unguessable (``credential.credential_id_for``), which the
learner's own page and the certificate's QR code carry; public sharing goes through the
notifier's share links, which never reveal it. What they show is what the signed credential
says. A revoked or suspended credential still renders, marked as such on the image and on every
page; a withheld one (a tombstone) is unknown.
"""

from __future__ import annotations

import re
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from microcred_issuer.handlers import Issuer
from microcred_issuer.rendering.badge import baked_badge
from microcred_issuer.rendering.labels import DEFAULT_LANGUAGE, LABELS
from microcred_shared.http import ProblemError, from_app_state
from microcred_shared.mongo import Document

IssuerDep = Annotated[Issuer, Depends(from_app_state("issuer"))]
Language = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$",
        description="Language of the labels (en, pt, de); else Accept-Language; else English.",
    ),
]

router = APIRouter(tags=["renderings"])

SVG = "image/svg+xml"
PDF = "application/pdf"
#: The SVG is an image with inline presentation attributes only: nothing in it may run or load.
SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
#: Whether the credential stands may change (revocation): caches must ask again each time.
CACHE = "no-cache"
_FLAGGED = {"revoked", "suspended"}
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9-]+")


def filename(prefix: str, credential_id: str, extension: str) -> str:
    """A download name that is safe everywhere: ``badge-<uuid>.svg`` for ``urn:uuid:<uuid>``."""
    tail = _UNSAFE_FILENAME.sub("-", credential_id.rsplit(":", 1)[-1]).strip("-")[:64]
    return f"{prefix}-{tail or 'credential'}.{extension}"


def _language(lang: str | None, accept_language: str | None) -> str:
    """``lang`` if given, else the first language of ``Accept-Language`` spoken here."""
    tags = [lang] if lang else [e.split(";", 1)[0] for e in (accept_language or "").split(",")]
    for tag in tags:
        primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
        if primary in LABELS:
            return primary
    return DEFAULT_LANGUAGE


async def _stored(issuer: Issuer, credential_id: str) -> Document:
    document = await issuer.credential(credential_id)
    if document is None or not isinstance(document.get("credential"), dict):
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown credential", credential_id)
    return document


def _status(document: Document) -> tuple[str, datetime | None]:
    status = str(document.get("status", "active"))
    if status not in _FLAGGED:
        return "active", None
    since = document.get(f"{status}_at") or document.get("revoked_at")
    return status, since if isinstance(since, datetime) else None


def _headers(disposition: str, name: str, language: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "Cache-Control": CACHE,
        "X-Content-Type-Options": "nosniff",
        "Content-Language": language,
        "Vary": "Accept-Language",
    }


async def _badge(
    issuer: Issuer, credential_id: str, lang: str | None, accept: str | None, *, jwt: bool
) -> Response:
    document = await _stored(issuer, credential_id)
    status, since = _status(document)
    language = _language(lang, accept)
    token: Any = document.get("credential_jwt") if jwt else None
    if jwt and not isinstance(token, str):
        raise ProblemError(HTTPStatus.NOT_FOUND, "No VC-JWT for this credential", credential_id)
    svg = baked_badge(
        document["credential"], jwt=token, status=status, status_since=since, language=language
    )
    name = filename("badge-jwt" if jwt else "badge", credential_id, "svg")
    headers = _headers("inline", name, language)
    headers["Content-Security-Policy"] = SVG_POLICY
    return Response(svg.encode(), media_type=SVG, headers=headers)


@router.get(
    "/credentials/{credential_id}/badge.svg",
    response_class=Response,
    responses={200: {"content": {SVG: {}}}, 404: {"description": "Unknown credential"}},
)
async def badge_svg(
    credential_id: str,
    issuer: IssuerDep,
    lang: Language = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Response:
    """The credential's badge, baked with the credential as JSON-LD (Open Badges 3.0 baking)."""
    return await _badge(issuer, credential_id, lang, accept_language, jwt=False)


@router.get(
    "/credentials/{credential_id}/badge-jwt.svg",
    response_class=Response,
    responses={200: {"content": {SVG: {}}}, 404: {"description": "Unknown credential"}},
)
async def badge_jwt_svg(
    credential_id: str,
    issuer: IssuerDep,
    lang: Language = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Response:
    """The credential's badge, baked with its VC-JWT (the ``verify`` attribute)."""
    return await _badge(issuer, credential_id, lang, accept_language, jwt=True)


@router.get(
    "/credentials/{credential_id}/certificate.pdf",
    response_class=Response,
    responses={200: {"content": {PDF: {}}}, 404: {"description": "Unknown credential"}},
)
async def certificate(
    credential_id: str,
    issuer: IssuerDep,
    lang: Language = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Response:
    """The credential's PDF certificate: every element, and a QR code to its verification page."""
    # fpdf2, with the fontTools and numpy it loads, is some 45 MiB of memory the issuer's signing
    # never needs: it is imported by the first PDF asked for, not at start.
    from microcred_issuer.rendering.certificate import certificate_pdf  # noqa: PLC0415

    document = await _stored(issuer, credential_id)
    status, since = _status(document)
    language = _language(lang, accept_language)
    pdf = await run_in_threadpool(
        certificate_pdf,
        document["credential"],
        issuer.public_url,
        status=status,
        status_since=since,
        language=language,
    )
    name = filename("certificate", credential_id, "pdf")
    return Response(pdf, media_type=PDF, headers=_headers("attachment", name, language))
