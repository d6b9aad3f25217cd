"""The W3C VC-API (https://w3c-ccg.github.io/vc-api/): issue and verify, in its standard shapes.

- ``POST /credentials/issue`` ``{"credential", "options"}`` → 201 ``{"verifiableCredential"}``:
  the credential signed with an ``eddsa-rdfc-2022`` ``DataIntegrityProof`` by the institution
  its ``issuer`` names — the institution's ``did:web``, or the ``did:key`` of its active key
  (``did:key:z6Mk…``, verification method ``did:key:z6Mk…#z6Mk…``). Institution admins of that
  institution and platform admins only (intake's bearer tokens): 401 without a valid token, 403
  for anyone else. A credential that breaks a VC Data Model 2.0 rule, names an issuer that is not
  one of ours, or has terms no context defines is refused (422) before anything is signed.
- ``POST /credentials/verify`` ``{"verifiableCredential", "options"}`` → 200
  ``{"checks", "warnings", "errors": []}`` when every check passes; 400 with ``errors`` when the
  input is no conforming credential or a check fails. Never 200 with a failure.
- ``POST /presentations/verify`` ``{"verifiablePresentation", "options": {challenge, domain}}``
  → 200 when every credential in it verifies and so does its proof, if any (``authentication``,
  with the challenge and domain asked for); 400 otherwise.

Proofs by any ``did:key`` are verified (the key is in the DID), as are those by this issuer's
``did:web`` keys; other DID methods are refused. ``POST /verify`` (``verification.api``) keeps
the platform's own, more detailed answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from microcred_issuer.dataintegrity import DataIntegrityError, proofs_of, verify_proof
from microcred_issuer.handlers import Issuer, UnknownIssuerError
from microcred_issuer.vcdm import credential_errors, presentation_errors
from microcred_shared.http import (
    PROBLEM_JSON,
    ProblemError,
    TokenCaller,
    from_app_state,
    require_role,
)

IssuerDep = Annotated[Issuer, Depends(from_app_state("issuer"))]

router = APIRouter(tags=["VC-API"])

AUTHENTICATION: Final = "authentication"
#: The largest request body read (a credential with a few embedded images fits).
MAX_BODY_BYTES: Final = 2_000_000

_JSON_BODY = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}


async def _json_body(request: Request, member: str) -> tuple[Any, dict[str, Any]]:
    """``member`` of the JSON object posted, and its ``options`` (400 when malformed)."""
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise ProblemError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Too large", "body too large")
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _invalid(HTTPStatus.BAD_REQUEST, "Malformed JSON", str(exc)) from exc
    if not isinstance(parsed, dict) or member not in parsed:
        raise _invalid(
            HTTPStatus.BAD_REQUEST, "Invalid request", f"send a JSON object with {member!r}"
        )
    options = parsed.get("options") or {}
    if not isinstance(options, dict):
        raise _invalid(HTTPStatus.BAD_REQUEST, "Invalid request", "options must be an object")
    return parsed[member], options


def _invalid(status: int, title: str, *errors: str) -> ProblemError:
    """A refusal as problem details that also carries the VC-API's ``errors``."""
    return ProblemError(
        status,
        title,
        "; ".join(errors),
        checks=[],
        warnings=[],
        errors=[{"title": title, "detail": e} for e in errors],
    )


def _refused(checks: list[str], title: str, detail: str, warnings: list[str]) -> JSONResponse:
    """A failed verification: 400, problem details with the VC-API's ``checks`` and ``errors``."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": HTTPStatus.BAD_REQUEST,
        "detail": detail,
        "verified": False,
        "checks": checks,
        "warnings": warnings,
        "errors": [{"title": title, "detail": detail}],
    }
    return JSONResponse(body, status_code=HTTPStatus.BAD_REQUEST, media_type=PROBLEM_JSON)


def _issuer_id(credential: Mapping[str, Any]) -> Any:
    issuer = credential.get("issuer")
    return issuer.get("id") if isinstance(issuer, dict) else issuer


# --- issuing ---------------------------------------------------------------------------------


@router.post(
    "/credentials/issue",
    status_code=HTTPStatus.CREATED,
    openapi_extra={"requestBody": _JSON_BODY},
)
async def issue(request: Request, issuer: IssuerDep, caller: TokenCaller) -> JSONResponse:
    """Sign a credential for the institution its ``issuer`` names (its admins only).

    ``issuer`` (a string, or an object with ``id``) is the institution's ``did:web`` or the
    ``did:key`` of its active key; the proof's verification method is of the same form. A
    credential issued by the ``did:web`` without ``credentialStatus`` gets the institution's
    revocation and suspension list entries.
    """
    mine = [m.institution for m in caller.memberships if m.role == "institution_admin"]
    if not mine and not caller.platform_admin:
        raise ProblemError(HTTPStatus.FORBIDDEN, "Forbidden", "you are no institution admin")
    credential, _options = await _json_body(request, "credential")
    errors = credential_errors(credential)
    if errors:
        raise _invalid(HTTPStatus.UNPROCESSABLE_ENTITY, "Non-conforming credential", *errors)
    try:
        institution_id, by_did_key = await issuer.institution_of(_issuer_id(credential), mine)
    except UnknownIssuerError as exc:
        raise _invalid(HTTPStatus.UNPROCESSABLE_ENTITY, "Unknown issuer", str(exc)) from exc
    require_role(caller, institution_id, "institution_admin")
    try:
        signed = await issuer.sign_for_api(credential, institution_id, by_did_key=by_did_key)
    except UnknownIssuerError as exc:
        raise _invalid(HTTPStatus.UNPROCESSABLE_ENTITY, "Unknown issuer", str(exc)) from exc
    except DataIntegrityError as exc:
        raise _invalid(HTTPStatus.UNPROCESSABLE_ENTITY, "Cannot sign", str(exc)) from exc
    return JSONResponse({"verifiableCredential": signed}, status_code=HTTPStatus.CREATED)


# --- verifying -------------------------------------------------------------------------------


async def _verify_credential(
    issuer: Issuer, credential: Any
) -> tuple[list[str], list[str], str | None]:
    """The checks passed, warnings, and why ``credential`` fails (None when it verifies)."""
    errors = credential_errors(credential)
    if errors:
        return [], [], "not a conforming credential: " + "; ".join(errors)
    verdict = await issuer.verify(credential, foreign_status=True)
    checks = verdict["checks"]
    passed = ["proof"] if checks.get("signature") else []
    warnings = list(verdict.get("warnings", []))
    if "credentialStatus" in credential and checks.get("status") and not warnings:
        passed.append("credentialStatus")
    if not verdict["verified"]:
        return passed, warnings, f"{verdict['failed']}: {verdict['error']}"
    if "validFrom" in credential or "validUntil" in credential:
        passed.append("validity")
    return passed, warnings, None


@router.post("/credentials/verify", openapi_extra={"requestBody": _JSON_BODY})
async def verify_credential(request: Request, issuer: IssuerDep) -> JSONResponse:
    """Verify a credential's ``eddsa-rdfc-2022`` proofs, issuer, status and validity period.

    200 with ``checks`` when it verifies; 400 with ``errors`` when it does not (or is no
    conforming credential).
    """
    credential, _options = await _json_body(request, "verifiableCredential")
    checks, warnings, failure = await _verify_credential(issuer, credential)
    if failure is not None:
        return _refused(checks, "Verification failed", failure, warnings)
    return JSONResponse({"checks": checks, "warnings": warnings, "errors": []})


async def _presentation_proof_failure(  # noqa: PLR0911 - one return per reason
    issuer: Issuer, presentation: Mapping[str, Any], options: Mapping[str, Any]
) -> str | None:
    """Why the presentation's proofs do not verify (None when they do or there are none)."""
    proof = presentation.get("proof")
    if proof is None:
        return None
    given = proof if isinstance(proof, list) else [proof]
    proofs = proofs_of(presentation)
    if len(proofs) != len(given):
        return "unsupported proof: only DataIntegrityProof with eddsa-rdfc-2022 is verified"
    for one in proofs:
        _did, key, error = await issuer.resolve_method(
            str(one.get("verificationMethod", "")), any_did_key=True
        )
        if key is None:
            return f"proof: {error}"
        if one.get("proofPurpose") != AUTHENTICATION:
            return "proof: the presentation's proof purpose must be authentication"
        challenge = options.get("challenge")
        if challenge is not None and one.get("challenge") != challenge:
            return "proof: the challenge does not match"
        domain = options.get("domain")
        domains = one.get("domain")
        domains = domains if isinstance(domains, list) else [domains]
        if domain is not None and domain not in domains:
            return "proof: the domain does not match"
        try:
            verify_proof(presentation, one, key)
        except DataIntegrityError as exc:
            return f"proof: {exc}"
    return None


@router.post("/presentations/verify", openapi_extra={"requestBody": _JSON_BODY})
async def verify_presentation(request: Request, issuer: IssuerDep) -> JSONResponse:
    """Verify a presentation: its proof (if any) and every credential in it.

    The proof must be for ``authentication`` and carry the ``challenge`` and ``domain`` given
    in ``options``. 200 with ``checks`` when everything verifies; 400 with ``errors`` otherwise.
    """
    presentation, options = await _json_body(request, "verifiablePresentation")
    errors = presentation_errors(presentation)
    if errors:
        return _refused(
            [], "Verification failed", "not a conforming presentation: " + "; ".join(errors), []
        )
    failure = await _presentation_proof_failure(issuer, presentation, options)
    if failure is not None:
        return _refused([], "Verification failed", failure, [])
    checks = ["proof"] if "proof" in presentation else []
    warnings = [] if checks else ["the presentation has no proof: its holder is not authenticated"]
    credentials = presentation.get("verifiableCredential", [])
    for index, credential in enumerate(
        credentials if isinstance(credentials, list) else [credentials]
    ):
        passed, found, failure = await _verify_credential(issuer, credential)
        warnings += [f"verifiableCredential[{index}]: {w}" for w in found]
        if failure is not None:
            return _refused(
                checks, "Verification failed", f"verifiableCredential[{index}]: {failure}", warnings
            )
        checks += [f"verifiableCredential[{index}].{c}" for c in passed]
    return JSONResponse({"checks": checks, "warnings": warnings, "errors": []})
