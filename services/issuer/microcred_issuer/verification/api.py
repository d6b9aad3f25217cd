"""Verification for anyone, over HTTP: ``POST /verify`` and the public verification page.

``POST /verify`` takes a credential however it was handed over: JSON-LD with its proof, a
VC-JWT, or a badge image (SVG or PNG) with one baked in, as the body or as a form upload. It
answers ``Issuer.verify``'s verdict: JSON, or a page for a browser (``Accept: text/html``, as
the form of the page sends). Input that is no credential at all is refused as problem details
(400 malformed, 413 too large, 415 a kind not read, 422 not a credential), never answered
"not verified".

``GET /credentials/{id}/verify`` is where the certificate's QR code points: the credential's
elements and each check in plain words, "Revoked" or "Suspended" in large type when so (when,
never why), and the form. An unknown id is a 404 page that says nothing more.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from microcred_issuer.handlers import Issuer
from microcred_issuer.rendering.elements import CredentialView, view_of
from microcred_issuer.rendering.labels import LABELS
from microcred_issuer.verification.inputs import (
    MAX_INPUT_BYTES,
    Presented,
    UnusableInputError,
    media_type_of,
    read_as,
    sniff,
    too_large,
)
from microcred_shared.http import from_app_state, problem_response

IssuerDep = Annotated[Issuer, Depends(from_app_state("issuer"))]

router = APIRouter(tags=["verification"])

templates = Environment(
    loader=PackageLoader("microcred_issuer.verification", "templates"),
    autoescape=select_autoescape(["html", "html.j2"], default_for_string=True, default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

#: The page loads nothing (its CSS is inline) and may post its form only to this service.
PAGE_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
FORM_FIELDS = ("credential", "file")

_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/ld+json": {"schema": {"type": "object"}},
        "text/plain": {"schema": {"type": "string", "description": "A compact VC-JWT."}},
        "application/jwt": {"schema": {"type": "string"}},
        "image/svg+xml": {"schema": {"type": "string", "format": "binary"}},
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "credential": {"type": "string", "description": "Pasted JSON or VC-JWT."},
                    "file": {"type": "string", "format": "binary"},
                },
            }
        },
    },
}


# --- reading the request ---------------------------------------------------------------------


async def _body(request: Request) -> bytes:
    """The request body, refused (413) past ``MAX_INPUT_BYTES`` before it is all read."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_INPUT_BYTES:
        raise too_large(int(declared))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_INPUT_BYTES:
            raise too_large(len(body))
    return bytes(body)


async def _form(request: Request, body: bytes) -> Presented:
    """A form's upload (``file``) or pasted text (``credential``): whichever is not empty."""

    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(
        request.headers, stream(), max_files=1, max_fields=8, max_part_size=MAX_INPUT_BYTES
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UnusableInputError(
            f"malformed form: {exc.message}", HTTPStatus.BAD_REQUEST, "Malformed form"
        ) from exc
    try:
        for name in ("file", "credential"):
            value = form.get(name)
            if isinstance(value, UploadFile):
                data = await value.read(MAX_INPUT_BYTES + 1)
            elif isinstance(value, str):
                data = value.encode()
            else:
                continue
            if data.strip():
                return sniff(data)
    finally:
        await form.close()
    raise UnusableInputError(
        "the form carries no credential: upload a file (field 'file') or paste one "
        "(field 'credential')"
    )


def _pasted(body: bytes) -> Presented:
    """A form without an upload: the pasted text of its ``credential`` field."""
    try:
        fields = parse_qs(body.decode(), max_num_fields=8)
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnusableInputError(
            f"malformed form: {exc}", HTTPStatus.BAD_REQUEST, "Malformed form"
        ) from exc
    pasted = next((v for v in fields.get("credential", []) if v.strip()), "")
    if not pasted:
        raise UnusableInputError("the form carries no credential: paste one (field 'credential')")
    return sniff(pasted.encode())


async def presented_of(request: Request) -> Presented:
    """The credential in the request, by its media type; refused if there is none."""
    media_type = media_type_of(request.headers.get("content-type"))
    body = await _body(request)
    if media_type == "multipart/form-data":
        return await _form(request, body)
    if media_type == "application/x-www-form-urlencoded":
        return _pasted(body)
    if not body.strip():
        raise UnusableInputError("the request has no body", HTTPStatus.BAD_REQUEST, "No input")
    return read_as(body, media_type)


def wants_page(request: Request) -> bool:
    """Whether the client prefers HTML to JSON (a browser's form does; API clients do not)."""
    best = {"text/html": -1.0, "application/json": -1.0}
    for position, entry in enumerate(request.headers.get("accept", "").split(",")):
        kind, *params = (part.strip() for part in entry.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        # Earlier entries win ties, as browsers list what they prefer first.
        score = quality - position / 1000
        if kind.lower() in best:
            best[kind.lower()] = max(best[kind.lower()], score)
    return best["text/html"] > 0 and best["text/html"] > best["application/json"]


# --- what the page says ----------------------------------------------------------------------


def _when(value: Any) -> str:
    """A date-time as the page shows it: ``2026-03-02 14:05 UTC``."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value or "")
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment.tzinfo else moment.isoformat()


def _since(verdict: Mapping[str, Any], status: str) -> str:
    """When the credential was revoked or suspended, as the verdict tells it (if it does)."""
    for key in (status.removesuffix("d"), status, "revocation", "suspension"):
        entry = verdict.get(key)
        if isinstance(entry, Mapping):
            for field in (f"{status}_at", "since", "revoked_at", "suspended_at"):
                if entry.get(field):
                    return _when(entry[field])
    return ""


Line = dict[str, str]


def _line(name: str, state: str, headline: str, detail: str = "") -> Line:
    return {"name": name, "state": state, "headline": headline, "detail": detail}


def _signature_line(verdict: Mapping[str, Any], error: str) -> Line:
    if verdict.get("checks", {}).get("signature"):
        kind = "VC-JWT" if verdict.get("format") == "vc-jwt" else "Data Integrity proof"
        return _line(
            "Signature",
            "pass",
            "The digital signature is valid: nothing in the credential was changed after it "
            "was signed.",
            f"{kind}, Ed25519",
        )
    if verdict.get("failed") == "signature":
        return _line(
            "Signature",
            "fail",
            "The digital signature does not match: the credential was altered, or it was not "
            "signed with the issuer's key.",
            error,
        )
    return _line("Signature", "skip", "Not checked: the signer's key could not be found.")


def _issuer_line(verdict: Mapping[str, Any], error: str) -> Line:
    issuer_id = verdict.get("checks", {}).get("issuer")
    if verdict.get("failed") == "issuer":
        return _line(
            "Issuer",
            "fail",
            "The issuer could not be confirmed: the credential was not signed by a key its "
            "issuer publishes.",
            error,
        )
    if not issuer_id:
        return _line("Issuer", "skip", "Not checked.")
    credential = verdict.get("credential")
    name = view_of(credential).provider.name if isinstance(credential, Mapping) else ""
    named = f"{name} ({issuer_id})" if name else str(issuer_id)
    detail = "Its key is listed in its DID document."
    return _line("Issuer", "pass", f"Issued and signed by {named}.", detail)


def _status_line(verdict: Mapping[str, Any], error: str) -> Line:
    status = verdict.get("checks", {}).get("status")
    if status == "active":
        return _line("Status", "pass", "Not revoked and not suspended by the issuer.")
    if status in {"revoked", "suspended"}:
        since = _since(verdict, str(status))
        when = f" on {since}" if since else ""
        lasting = " while it stays suspended." if status == "suspended" else "."
        return _line(
            "Status",
            "fail",
            f"{str(status).capitalize()}{when}: the issuer no longer vouches for this "
            f"credential{lasting}",
        )
    if status:
        return _line("Status", "fail", f"Status: {status}.", error)
    if verdict.get("failed") == "status":
        return _line("Status", "fail", "The status could not be checked.", error)
    return _line("Status", "skip", "Not checked: the signature and issuer come first.")


def _dates_line(verdict: Mapping[str, Any], error: str) -> Line:
    dates = verdict.get("checks", {}).get("dates")
    credential = verdict.get("credential")
    credential = credential if isinstance(credential, Mapping) else {}
    if dates is True:
        valid_from, valid_until = credential.get("validFrom"), credential.get("validUntil")
        period = f"Valid from {_when(valid_from)}" if valid_from else "Valid"
        period += f" until {_when(valid_until)}." if valid_until else ", with no expiry date."
        return _line("Dates", "pass", period)
    if dates is False:
        return _line("Dates", "fail", "Not valid at this time.", error)
    return _line("Dates", "skip", "Not checked.")


def checks_in_words(verdict: Mapping[str, Any]) -> list[Line]:
    """Each check of a verdict as a line a reader understands: passed, failed or not made."""
    error = str(verdict.get("error") or "")
    return [
        _signature_line(verdict, error),
        _issuer_line(verdict, error),
        _status_line(verdict, error if verdict.get("failed") == "status" else ""),
        _dates_line(verdict, error if verdict.get("failed") == "dates" else ""),
    ]


def _status_of(verdict: Mapping[str, Any]) -> str:
    status = verdict.get("checks", {}).get("status")
    return str(status) if status in {"revoked", "suspended"} else "active"


def _summary(verdict: Mapping[str, Any]) -> tuple[str, str]:
    """The verdict in a few words, and its kind (``valid``, ``revoked``, ``invalid`` …)."""
    status = _status_of(verdict)
    if status != "active" and verdict.get("checks", {}).get("signature"):
        return status.capitalize(), status
    if verdict.get("verified"):
        return "Valid credential", "valid"
    return "Not valid", "invalid"


def render_page(template: str, status: int = HTTPStatus.OK, **values: Any) -> HTMLResponse:
    """A page of the verification templates, with the headers every one of them is sent with."""
    values.setdefault("max_mib", MAX_INPUT_BYTES // (1024 * 1024))
    html = templates.get_template(template).render(labels=LABELS["en"], **values)
    return HTMLResponse(
        html,
        status_code=status,
        headers={
            "Content-Security-Policy": PAGE_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def verdict_page(
    verdict: Mapping[str, Any], *, stored: bool, status: int = HTTPStatus.OK
) -> HTMLResponse:
    summary, kind = _summary(verdict)
    credential = verdict.get("credential")
    view: CredentialView | None = None
    if isinstance(credential, Mapping):
        view = view_of(credential, status=_status_of(verdict))
    return render_page(
        "verdict.html.j2",
        status,
        summary=summary,
        kind=kind,
        since=_since(verdict, kind),
        failed=verdict.get("failed"),
        error=verdict.get("error"),
        checks=checks_in_words(verdict),
        view=view,
        # The stored credential's own renderings, next to it (public, like the page).
        downloads=_downloads(view.credential_id) if stored and view else None,
    )


def _downloads(credential_id: str) -> dict[str, str]:
    at = f"/credentials/{quote(credential_id, safe='')}"
    return {
        "Badge (SVG, with the credential baked in)": f"{at}/badge.svg",
        "Certificate (PDF)": f"{at}/certificate.pdf",
        "Credential (JSON-LD and VC-JWT)": at,
    }


# --- routes ------------------------------------------------------------------------------------


@router.post(
    "/verify",
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={
        200: {"description": "The verdict (JSON), or a page for Accept: text/html."},
        400: {"description": "Malformed input (JSON, form)."},
        413: {"description": "Larger than 4 MiB."},
        415: {"description": "A media type not read."},
        422: {"description": "Not a credential (nor an image with one baked in)."},
    },
)
async def verify(request: Request, issuer: IssuerDep) -> Response:
    """Verify a credential: JSON-LD with its proof, a VC-JWT, or a badge image baked with one.

    The answer is ``Issuer.verify``'s: ``verified``, each check in ``checks``
    (signature, issuer, status, dates), and for a credential that fails, the check in ``failed``
    and why in ``error``.
    """
    page = wants_page(request)
    try:
        presented = await presented_of(request)
    except UnusableInputError as exc:
        if page:
            return render_page("unusable.html.j2", exc.status, title=exc.title, reason=exc.reason)
        return problem_response(exc.status, exc.title, exc.reason)
    verdict = await issuer.verify(presented)
    if page:
        return verdict_page(verdict, stored=False)
    return JSONResponse(verdict)


@router.get("/verify", response_class=HTMLResponse, include_in_schema=False)
async def verify_form() -> HTMLResponse:
    """The form alone: paste a credential or upload a badge."""
    return render_page("form.html.j2")


@router.get(
    "/credentials/{credential_id}/verify",
    response_class=HTMLResponse,
    responses={404: {"description": "Unknown credential (a page that says nothing more)."}},
)
async def verification_page(credential_id: str, issuer: IssuerDep) -> HTMLResponse:
    """The page of one credential: its elements and its checks, in plain words.

    No login: the credential's id is the key (its private full-disclosure link, unguessable;
    the certificate's QR code opens this page).
    """
    document = await issuer.credential(credential_id)
    if document is None or not isinstance(document.get("credential"), dict):
        return render_page("unknown.html.j2", HTTPStatus.NOT_FOUND)
    verdict = await issuer.verify(document["credential"])
    return verdict_page(verdict, stored=True)
