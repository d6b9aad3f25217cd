"""The notifier's pages: claiming from the e-mailed link, the learner's wallet, public shares.

Pages are server-rendered HTML with no script. Every response says ``no-store`` and sends no
referrer (claim URLs carry their token); forms of a signed-in learner carry the session's CSRF
token, and the session cookie is HttpOnly and SameSite.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from microcred_notifier.claims import (
    ClaimDesk,
    CodeNotSentError,
    CodeRefusedError,
    OpenClaim,
)
from microcred_notifier.handlers import (
    CLAIMED,
    DELIVERED,
    FAILED,
    GAVE_UP,
    SENT,
    Notifier,
    ResendRefusedError,
    reference,
)
from microcred_notifier.issuer_client import IssuerClient, IssuerUnavailableError, Verdict
from microcred_notifier.policy import SecondCheck
from microcred_notifier.texts import render
from microcred_notifier.throttle import ThrottledError
from microcred_notifier.wallet import (
    DEFAULT_SHARED,
    LINKEDIN_ADD,
    SHAREABLE,
    Sessions,
    ShareLimitError,
    Shares,
    WalletSession,
    linkedin_url,
)
from microcred_shared.auth import InvalidTokenError, Principal, RemoteKeySet
from microcred_shared.credential_view import view_of
from microcred_shared.i18n import choose_language
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document

log = get_logger(__name__)

WALLET_COOKIE = "microcred_wallet"
STATE_COOKIE = "microcred_wallet_state"
CLAIM_COOKIE = "microcred_claim"
LANGUAGE_COOKIE = "microcred_lang"
_STATE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_REFERENCE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


@dataclass
class Pages:
    notifier: Notifier
    desk: ClaimDesk
    sessions: Sessions
    shares: Shares
    issuer: IssuerClient
    keys: RemoteKeySet

    @property
    def public_url(self) -> str:
        return self.notifier.settings.public_url.rstrip("/")

    @property
    def intake_url(self) -> str:
        return self.notifier.settings.intake_url.rstrip("/")

    @property
    def issuer_public_url(self) -> str:
        settings = self.notifier.settings
        return (settings.issuer_public_url or settings.issuer_url).rstrip("/")


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


PagesDep = Annotated[Pages, Depends(_pages)]
router = APIRouter(include_in_schema=False)


# --- rendering ------------------------------------------------------------------------------------


def _language(request: Request, preferred: str | None = None) -> str:
    query, cookie = request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE)
    if preferred and not {query, cookie} & {"en", "pt", "de"}:
        return choose_language(None, None, preferred)
    return choose_language(query, cookie, request.headers.get("accept-language", ""))


def page(
    request: Request,
    pages: Pages,
    template: str,
    status: int = HTTPStatus.OK,
    *,
    language: str | None = None,
    session: WalletSession | None = None,
    form_targets: tuple[str, ...] = (),
    **context: Any,
) -> HTMLResponse:
    """``template`` as a page; its forms may post here, to intake, and to ``form_targets``.

    Browsers check ``form-action`` on every redirect a form's answer makes too, so a form whose
    answer sends the browser to another site names that site in ``form_targets``.
    """
    language = language or _language(request)
    form_action = " ".join(("'self'", _origin(pages.intake_url), *form_targets))
    body = render(
        template,
        language,
        session=session,
        csrf=session.csrf if session else "",
        intake_url=pages.intake_url,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
        f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.query_params.get("lang") == language:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="lax")
    return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def see(location: str) -> RedirectResponse:
    response = RedirectResponse(location, status_code=HTTPStatus.SEE_OTHER)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _secure(pages: Pages, request: Request) -> bool:
    return pages.public_url.startswith("https://") or request.url.scheme == "https"


def _set_session(response: Response, pages: Pages, request: Request, session_id: str) -> None:
    response.set_cookie(
        WALLET_COOKIE,
        session_id,
        max_age=int(pages.sessions.hours * 3600),
        httponly=True,
        samesite="lax",
        secure=_secure(pages, request),
        path="/",
    )


async def _session(request: Request, pages: Pages) -> WalletSession | None:
    return await pages.sessions.get(request.cookies.get(WALLET_COOKIE))


def _invalid_link(request: Request, pages: Pages) -> HTMLResponse:
    return page(request, pages, "claim_invalid.html.j2", HTTPStatus.NOT_FOUND)


def _throttled(request: Request, pages: Pages, exc: ThrottledError) -> HTMLResponse:
    response = page(
        request,
        pages,
        "throttled.html.j2",
        HTTPStatus.TOO_MANY_REQUESTS,
        minutes=max(1, round(exc.retry_after_seconds / 60)),
    )
    response.headers["Retry-After"] = str(exc.retry_after_seconds)
    return response


async def _form(request: Request) -> dict[str, Any]:
    form = await request.form()
    values: dict[str, Any] = {}
    for key, value in form.multi_items():
        # The longest field is intake's access token, which grows with the memberships it lists.
        if isinstance(value, str) and len(value) <= 16_000:  # noqa: PLR2004
            values.setdefault(key, []).append(value)
    return values


def _one(form: dict[str, Any], key: str) -> str:
    found = form.get(key) or [""]
    return str(found[0])


def _csrf_ok(session: WalletSession, form: dict[str, Any]) -> bool:
    return hmac.compare_digest(_one(form, "csrf_token").encode(), session.csrf.encode())


# --- claiming -------------------------------------------------------------------------------------


async def _open(
    request: Request, pages: Pages, token: str, *, step: SecondCheck | None = None
) -> OpenClaim | Response:
    """The claim ``token`` opens, or the page that answers instead.

    Without ``step``, a revoked credential's page; with it (a step of that second check), the
    claim must be consented and of that check, or the browser goes back to the link's page.
    """
    try:
        opened = await pages.desk.open(token, _client(request))
    except ThrottledError as exc:
        return _throttled(request, pages, exc)
    if opened is None:
        return _invalid_link(request, pages)
    if step is None:
        if opened.revoked:
            return await _claim_page(request, pages, opened, "claim_revoked.html.j2")
    elif opened.revoked or not opened.consented or opened.second_check != step:
        return see(f"/claim/{token}")
    return opened


async def _claim_page(
    request: Request,
    pages: Pages,
    opened: OpenClaim,
    template: str,
    status: int = HTTPStatus.OK,
    **context: Any,
) -> HTMLResponse:
    claim = opened.claim
    return page(
        request,
        pages,
        template,
        status,
        language=_language(request, claim["learner"].get("locale")),
        claim=claim,
        terms=opened.terms,
        second_check=opened.second_check,
        action=request.url.path.removesuffix("/code").removesuffix("/code/new"),
        has_logo=await pages.notifier.policies.has_logo(claim["institution_id"]),
        institution_id=claim["institution_id"],
        code_minutes=pages.notifier.settings.code_valid_minutes,
        **context,
    )


# Before ``/claim/{token}``, which would take "continue" for a token.
@router.get("/claim/continue", response_class=HTMLResponse)
async def continue_claim(request: Request, pages: PagesDep) -> Response:
    """Back from signing in at intake (the account check): finish the claim begun before."""
    opened = await _open(request, pages, request.cookies.get(CLAIM_COOKIE, ""), step="account")
    if isinstance(opened, Response):
        return opened
    session = await _session(request, pages)
    if session is None:
        return see(f"/wallet/sign-in?{urlencode({'next': '/claim/continue'})}")
    if session.user_id != opened.claim["learner_id"]:
        return await _claim_page(
            request,
            pages,
            opened,
            "claim_other_account.html.j2",
            HTTPStatus.FORBIDDEN,
            session=session,
        )
    return await _hand_over(request, pages, opened, "account", session=session)


@router.get("/claim/{token}", response_class=HTMLResponse)
async def claim_page(token: str, request: Request, pages: PagesDep) -> Response:
    """The e-mailed link: the credential announced, the privacy terms, and consent."""
    opened = await _open(request, pages, token)
    if isinstance(opened, Response):
        return opened
    if opened.consented and opened.second_check == "email_code":
        return await _claim_page(request, pages, opened, "claim_code.html.j2")
    return await _claim_page(request, pages, opened, "claim_consent.html.j2")


@router.post("/claim/{token}", response_class=HTMLResponse)
async def consent(token: str, request: Request, pages: PagesDep) -> Response:
    """Consent to the terms shown; then the institution's second check, or the credential."""
    opened = await _open(request, pages, token)
    if isinstance(opened, Response):
        return opened
    form = await _form(request)
    if _one(form, "agree") != "yes":
        return await _claim_page(
            request,
            pages,
            opened,
            "claim_consent.html.j2",
            HTTPStatus.UNPROCESSABLE_ENTITY,
            error="agree",
        )
    recorded = await pages.desk.consent(opened, _one(form, "terms_version"), _client(request))
    if not recorded:
        return await _claim_page(
            request, pages, opened, "claim_consent.html.j2", HTTPStatus.CONFLICT, error="changed"
        )
    return await _second_check(request, pages, opened)


async def _second_check(request: Request, pages: Pages, opened: OpenClaim) -> Response:
    if opened.second_check == "email_code":
        try:
            await pages.desk.send_code(opened)
        except CodeNotSentError as exc:
            return await _claim_page(
                request,
                pages,
                opened,
                "claim_code.html.j2",
                HTTPStatus.SERVICE_UNAVAILABLE,
                error=str(exc),
            )
        return await _claim_page(request, pages, opened, "claim_code.html.j2", sent=True)
    if opened.second_check == "account":
        session = await _session(request, pages)
        if session is not None and session.user_id == opened.claim["learner_id"]:
            return await _hand_over(request, pages, opened, "account", session=session)
        response = see(f"/wallet/sign-in?{urlencode({'next': '/claim/continue'})}")
        response.set_cookie(
            CLAIM_COOKIE,
            request.url.path.rsplit("/", 1)[-1],
            max_age=1800,
            httponly=True,
            samesite="lax",
            secure=_secure(pages, request),
            path="/claim",
        )
        return response
    return await _hand_over(request, pages, opened, "none")


async def _hand_over(
    request: Request,
    pages: Pages,
    opened: OpenClaim,
    how: str,
    *,
    session: WalletSession | None = None,
) -> Response:
    """Mark the claim used and take the learner to their credential, signed in to the wallet."""
    if not await pages.desk.take(opened, how):
        return _invalid_link(request, pages)
    response = see(f"/wallet/credentials/{quote(opened.claim['reference'])}?claimed=1")
    session = session or await _session(request, pages)
    if session is not None and session.user_id == opened.claim["learner_id"]:
        await pages.sessions.widen(request.cookies.get(WALLET_COOKIE, ""), opened.credential_id)
    else:
        learner = opened.claim["learner"]
        principal = Principal(
            user_id=opened.claim["learner_id"], email=learner["email"], name=learner["name"]
        )
        session_id = await pages.sessions.open(principal, "claim", [opened.credential_id])
        _set_session(response, pages, request, session_id)
    response.delete_cookie(CLAIM_COOKIE, path="/claim")
    return response


@router.post("/claim/{token}/code", response_class=HTMLResponse)
async def enter_code(token: str, request: Request, pages: PagesDep) -> Response:
    """The one-time code the learner was e-mailed."""
    opened = await _open(request, pages, token, step="email_code")
    if isinstance(opened, Response):
        return opened
    form = await _form(request)
    try:
        await pages.desk.check_code(opened, _one(form, "code"), _client(request))
    except ThrottledError as exc:
        return _throttled(request, pages, exc)
    except CodeRefusedError as exc:
        return await _claim_page(
            request,
            pages,
            opened,
            "claim_code.html.j2",
            HTTPStatus.UNPROCESSABLE_ENTITY,
            error=str(exc),
        )
    return await _hand_over(request, pages, opened, "email_code")


@router.post("/claim/{token}/code/new", response_class=HTMLResponse)
async def new_code(token: str, request: Request, pages: PagesDep) -> Response:
    opened = await _open(request, pages, token, step="email_code")
    if isinstance(opened, Response):
        return opened
    return await _second_check(request, pages, opened)


# --- signing in (the handoff from intake) -----------------------------------------------------


def _local_path(next_path: str) -> str:
    """``next_path`` if it is a path on this site, else the wallet."""
    if (
        next_path.startswith("/")
        and not next_path.startswith("//")
        and not _CONTROL.search(next_path)
        and len(next_path) <= 2000  # noqa: PLR2004
        and not urlsplit(next_path).netloc
    ):
        return next_path
    return "/wallet"


@router.get("/wallet/sign-in")
async def sign_in(request: Request, pages: PagesDep, next: str = "/wallet") -> Response:  # noqa: A002
    """Send the browser to intake, which knows who it is, with a state to check on return."""
    state = secrets.token_urlsafe(24)
    query = urlencode({"to": "notifier", "state": state, "next": _local_path(next)})
    response = see(f"{pages.intake_url}/auth/handoff?{query}")
    secure = _secure(pages, request)
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=900,
        httponly=True,
        # Intake posts the form back: from another site (where intake has its own domain) a
        # Lax cookie would not come along. It only binds the round trip; it grants nothing.
        samesite="none" if secure else "lax",
        secure=secure,
        path="/wallet",
    )
    return response


@router.post("/wallet/session")
async def open_session(request: Request, pages: PagesDep) -> Response:
    """Intake's form lands here with a short-lived access token of the signed-in person."""
    form = await _form(request)
    state, expected = _one(form, "state"), request.cookies.get(STATE_COOKIE, "")
    if not (
        _STATE.fullmatch(state)
        and expected
        and hmac.compare_digest(state.encode(), expected.encode())
    ):
        return page(request, pages, "signin_failed.html.j2", HTTPStatus.BAD_REQUEST)
    try:
        principal = await pages.keys.verify(_one(form, "token"))
    except (InvalidTokenError, httpx.HTTPError) as exc:
        # A bad token, or intake's key set out of reach: either way no session, nothing kept.
        log.info("wallet.sign_in_refused", reason=str(exc))
        return page(request, pages, "signin_failed.html.j2", HTTPStatus.BAD_REQUEST)
    response = see(_local_path(_one(form, "next")))
    _set_session(response, pages, request, await pages.sessions.open(principal, "account"))
    response.delete_cookie(STATE_COOKIE, path="/wallet")
    return response


@router.post("/wallet/sign-out")
async def sign_out(request: Request, pages: PagesDep) -> Response:
    session = await _session(request, pages)
    if session is not None and not _csrf_ok(session, await _form(request)):
        # Another site must not sign the learner out either.
        return page(request, pages, "csrf.html.j2", HTTPStatus.FORBIDDEN, session=session)
    await pages.sessions.close(request.cookies.get(WALLET_COOKIE))
    response = page(request, pages, "signed_out.html.j2")
    response.delete_cookie(WALLET_COOKIE, path="/")
    return response


# --- the wallet -----------------------------------------------------------------------------------


async def _signed_in(request: Request, pages: Pages) -> WalletSession | Response:
    session = await _session(request, pages)
    if session is None:
        return see(f"/wallet/sign-in?{urlencode({'next': request.url.path})}")
    return session


@router.get("/wallet", response_class=HTMLResponse)
async def wallet(request: Request, pages: PagesDep) -> Response:
    """The learner's credentials: claimed ones to open, others whose link can be sent again."""
    session = await _signed_in(request, pages)
    if isinstance(session, Response):
        return session
    found = pages.notifier.claims.find(
        {**session.owned(), "status": {"$in": [SENT, CLAIMED, FAILED]}},
        {"credential": 0, "credential_jwt": 0, "outbox": 0},
    ).sort("issued_at", -1)
    claims = [claim async for claim in found]
    admin_of = sorted(
        {m.institution for m in session.principal.memberships if m.role == "institution_admin"}
    )
    return page(
        request,
        pages,
        "wallet.html.j2",
        session=session,
        claims=claims,
        admin_of=admin_of,
        notice=request.query_params.get("notice", ""),
    )


async def _own_claim(
    request: Request, pages: Pages, ref: str
) -> tuple[WalletSession, Document] | Response:
    session = await _signed_in(request, pages)
    if isinstance(session, Response):
        return session
    claim = None
    if _REFERENCE.fullmatch(ref):
        claim = await pages.notifier.claims.find_one(
            {**session.owned(), "reference": ref}, {"outbox": 0}
        )
    if claim is None or claim["status"] not in {CLAIMED, SENT, FAILED}:
        return page(request, pages, "not_found.html.j2", HTTPStatus.NOT_FOUND, session=session)
    if claim["status"] != CLAIMED:
        # The learner's own, not claimed yet: the wallet lists it with its e-mail to resend.
        return see("/wallet?notice=unclaimed")
    return session, claim


async def _verdict(pages: Pages, claim: Document) -> Verdict | None:
    try:
        return await pages.issuer.verify(claim["credential"])
    except IssuerUnavailableError:
        return None


@router.get("/wallet/credentials/{ref}", response_class=HTMLResponse)
async def credential_page(ref: str, request: Request, pages: PagesDep) -> Response:
    """The learner's credential: what it says, downloads, verify, LinkedIn, share links."""
    owned = await _own_claim(request, pages, ref)
    if isinstance(owned, Response):
        return owned
    session, claim = owned
    shares = await pages.shares.of(claim["_id"])
    return page(
        request,
        pages,
        "credential.html.j2",
        session=session,
        # "Add to LinkedIn profile" posts here and is sent on to LinkedIn's form.
        form_targets=(_origin(LINKEDIN_ADD),),
        claim=claim,
        view=view_of(claim["credential"]),
        verdict=await _verdict(pages, claim),
        shown=set(SHAREABLE) | {"learner_email"},
        shareable=SHAREABLE,
        default_shared=DEFAULT_SHARED,
        shares=shares,
        share_base=f"{pages.public_url}/share/",
        verify_url=f"{pages.issuer_public_url}/credentials/{quote(claim['_id'], safe='')}/verify",
        claimed=request.query_params.get("claimed") == "1",
        created=request.query_params.get("created", ""),
        error=request.query_params.get("error", ""),
    )


@router.get("/wallet/credentials/{ref}/credential.json")
async def download_json(ref: str, request: Request, pages: PagesDep) -> Response:
    owned = await _own_claim(request, pages, ref)
    if isinstance(owned, Response):
        return owned
    _, claim = owned
    return _download(
        json.dumps(claim["credential"], indent=2, ensure_ascii=False).encode(),
        "application/vc+ld+json",
        f"credential-{ref}.json",
    )


@router.get("/wallet/credentials/{ref}/credential.jwt")
async def download_jwt(ref: str, request: Request, pages: PagesDep) -> Response:
    owned = await _own_claim(request, pages, ref)
    if isinstance(owned, Response):
        return owned
    _, claim = owned
    return _download(
        claim["credential_jwt"].encode(), "application/vc+jwt", f"credential-{ref}.jwt"
    )


@router.get("/wallet/credentials/{ref}/badge.svg")
async def download_badge(ref: str, request: Request, pages: PagesDep) -> Response:
    return await _rendering(ref, request, pages, "badge.svg", f"badge-{ref}.svg")


@router.get("/wallet/credentials/{ref}/certificate.pdf")
async def download_certificate(ref: str, request: Request, pages: PagesDep) -> Response:
    return await _rendering(ref, request, pages, "certificate.pdf", f"certificate-{ref}.pdf")


async def _rendering(
    ref: str, request: Request, pages: Pages, name: str, filename: str
) -> Response:
    owned = await _own_claim(request, pages, ref)
    if isinstance(owned, Response):
        return owned
    session, claim = owned
    language = _language(request, claim["learner"].get("locale"))
    try:
        answer = await pages.issuer.rendering(claim["_id"], name, language)
    except IssuerUnavailableError:
        return page(
            request, pages, "unavailable.html.j2", HTTPStatus.SERVICE_UNAVAILABLE, session=session
        )
    media_type = answer.headers.get("content-type", "application/octet-stream").split(";")[0]
    return _download(answer.content, media_type, filename)


def _download(content: bytes, media_type: str, filename: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        },
    )


async def _owned_post(
    ref: str, request: Request, pages: Pages
) -> tuple[WalletSession, Document, dict[str, Any]] | Response:
    owned = await _own_claim(request, pages, ref)
    if isinstance(owned, Response):
        return owned
    session, claim = owned
    form = await _form(request)
    if not _csrf_ok(session, form):
        return page(request, pages, "csrf.html.j2", HTTPStatus.FORBIDDEN, session=session)
    return session, claim, form


@router.post("/wallet/credentials/{ref}/shares")
async def create_share(ref: str, request: Request, pages: PagesDep) -> Response:
    """A new public link showing the fields the learner ticked."""
    owned = await _owned_post(ref, request, pages)
    if isinstance(owned, Response):
        return owned
    _, claim, form = owned
    back = f"/wallet/credentials/{quote(ref)}"
    try:
        share = await pages.shares.create(claim, form.get("field", []), _one(form, "label"))
    except ShareLimitError:
        return see(f"{back}?error=limit#shares")
    return see(f"{back}?created={share['_id']}#shares")


@router.post("/wallet/credentials/{ref}/shares/{share_id}/revoke")
async def revoke_share(ref: str, share_id: str, request: Request, pages: PagesDep) -> Response:
    owned = await _owned_post(ref, request, pages)
    if isinstance(owned, Response):
        return owned
    _, claim, _ = owned
    await pages.shares.revoke(claim["_id"], share_id)
    return see(f"/wallet/credentials/{quote(ref)}#shares")


@router.post("/wallet/credentials/{ref}/linkedin")
async def add_to_linkedin(ref: str, request: Request, pages: PagesDep) -> Response:
    """LinkedIn's add-to-profile form, prefilled; the link it shows is a privacy-friendly share."""
    owned = await _owned_post(ref, request, pages)
    if isinstance(owned, Response):
        return owned
    _, claim, _ = owned
    try:
        share = await pages.shares.for_linkedin(claim, "LinkedIn")
    except ShareLimitError:
        return see(f"/wallet/credentials/{quote(ref)}?error=limit#shares")
    return see(
        linkedin_url(
            title=claim["title"],
            organisation=claim["institution_name"],
            issued_at=claim["issued_at"],
            share_url=f"{pages.public_url}/share/{share['_id']}",
            share_id=share["_id"],
        )
    )


async def _resend_form(
    request: Request, pages: Pages, ref: str, allowed: Callable[[WalletSession, Document], bool]
) -> tuple[WalletSession, Document] | Response:
    """The signed-in caller's resend form, checked (CSRF) and the claim it names, if allowed."""
    session = await _signed_in(request, pages)
    if isinstance(session, Response):
        return session
    if not _csrf_ok(session, await _form(request)):
        return page(request, pages, "csrf.html.j2", HTTPStatus.FORBIDDEN, session=session)
    claim = None
    if _REFERENCE.fullmatch(ref):
        claim = await pages.notifier.claims.find_one(
            {"reference": ref}, {"learner_id": 1, "institution_id": 1}
        )
    if claim is None or not allowed(session, claim):
        return page(request, pages, "not_found.html.j2", HTTPStatus.NOT_FOUND, session=session)
    return session, claim


async def _resend(pages: Pages, session: WalletSession, claim: Document, back: str) -> Response:
    joiner = "&" if "?" in back else "?"
    try:
        await pages.notifier.resend(claim["_id"], requested_by=session.user_id)
    except ResendRefusedError:
        return see(f"{back}{joiner}notice=resend-refused")
    return see(f"{back}{joiner}notice=resent")


def _own(session: WalletSession, claim: Document) -> bool:
    scope = session.scope
    return claim["learner_id"] == session.user_id and (scope is None or claim["_id"] in scope)


def _administered(session: WalletSession, claim: Document) -> bool:
    return session.principal.has_role(claim["institution_id"], "institution_admin")


@router.post("/wallet/claims/{ref}/resend")
async def resend_from_wallet(ref: str, request: Request, pages: PagesDep) -> Response:
    """The learner asks for their claim e-mail again (the old link stops working)."""
    checked = await _resend_form(request, pages, ref, _own)
    if isinstance(checked, Response):
        return checked
    return await _resend(pages, *checked, "/wallet")


# --- public share pages ---------------------------------------------------------------------------


@router.get("/share/{share_id}", response_class=HTMLResponse)
async def share_page(share_id: str, request: Request, pages: PagesDep) -> Response:
    """What the learner chose to show, and whether the credential stands, checked now."""
    share = await pages.shares.get(share_id)
    claim = None
    if share is not None and share.get("revoked_at") is None:
        claim = await pages.notifier.claims.find_one(
            {"_id": share["credential_id"], "status": CLAIMED}, {"outbox": 0}
        )
    if share is None or claim is None:
        return page(request, pages, "share_gone.html.j2", HTTPStatus.NOT_FOUND)
    verdict = await _verdict(pages, claim)
    revoked = claim.get("revoked_at") is not None or (
        verdict is not None and verdict.status == "revoked"
    )
    return page(
        request,
        pages,
        "share.html.j2",
        claim=claim,
        view=view_of(claim["credential"]),
        verdict=verdict,
        revoked=revoked,
        shown=set(share["fields"]),
        share_url=f"{pages.public_url}/share/{share_id}",
        logo_url=f"{pages.public_url}/institutions/{quote(claim['institution_id'])}/logo",
        has_logo=await pages.notifier.policies.has_logo(claim["institution_id"]),
    )


# --- the institution's deliveries -------------------------------------------------------------


@router.get("/admin/deliveries", response_class=HTMLResponse)
async def deliveries_page(request: Request, pages: PagesDep, institution: str = "") -> Response:
    """Claim e-mails that failed or wait for a retry, for the institution's admins."""
    session = await _signed_in(request, pages)
    if isinstance(session, Response):
        return session
    if not institution or not session.principal.has_role(institution, "institution_admin"):
        return page(request, pages, "forbidden.html.j2", HTTPStatus.FORBIDDEN, session=session)
    rows = await pages.notifier.deliveries(institution, failing_only=True)
    return page(
        request,
        pages,
        "deliveries.html.j2",
        session=session,
        institution=institution,
        rows=rows,
        notice=request.query_params.get("notice", ""),
        delivered=DELIVERED,
        gave_up=GAVE_UP,
    )


@router.post("/admin/deliveries/{ref}/resend")
async def resend_from_admin(ref: str, request: Request, pages: PagesDep) -> Response:
    """An admin sends a claim e-mail of their institution again."""
    checked = await _resend_form(request, pages, ref, _administered)
    if isinstance(checked, Response):
        return checked
    institution = checked[1]["institution_id"]
    return await _resend(
        pages, *checked, f"/admin/deliveries?{urlencode({'institution': institution})}"
    )


@router.get("/institutions/{institution_id}/logo")
async def logo(institution_id: str, pages: PagesDep) -> Response:
    """The institution's logo, as its e-mails and pages show it."""
    settings = await pages.notifier.policies.get(institution_id)
    if settings.logo is None:
        return Response(status_code=HTTPStatus.NOT_FOUND)
    return Response(
        settings.logo.data(),
        media_type=settings.logo.media_type,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


__all__ = ["Pages", "reference", "router"]
