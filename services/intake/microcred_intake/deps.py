"""Who is calling: a bearer token (API) or a session cookie (browser), as route dependencies."""

from __future__ import annotations

import hmac
from http import HTTPStatus
from typing import Annotated

from fastapi import Depends, Request, Response

from microcred_intake.accounting_client import AccountingCalls, AccountingClient
from microcred_intake.accounts import Accounts
from microcred_intake.handlers import Intake
from microcred_shared.auth import InvalidTokenError, Principal, Role, verify_token
from microcred_shared.http import ProblemError

SESSION_COOKIE = "microcred_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def intake_of(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


def accounts_of(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


def accounting_of(request: Request) -> AccountingClient:
    accounting: AccountingClient = request.app.state.accounting
    return accounting


async def accounting_as(request: Request, principal: Principal) -> AccountingCalls:
    """Accounting called for ``principal`` with a short-lived token intake mints for them."""
    token = await accounts_of(request).token_for(
        principal, request.app.state.accounting_token_seconds
    )
    return accounting_of(request).acting_as(token)


IntakeDep = Annotated[Intake, Depends(intake_of)]
AccountsDep = Annotated[Accounts, Depends(accounts_of)]


def set_session_cookie(
    response: Response, session_id: str, accounts: Accounts, request: Request
) -> None:
    """The browser session's cookie: HttpOnly, SameSite, Secure wherever users come by https."""
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=accounts.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=accounts.public_url.startswith("https://") or request.url.scheme == "https",
        path="/",
    )


async def _caller(request: Request, accounts: AccountsDep) -> Principal | None:
    authorization = request.headers.get("Authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ProblemError(HTTPStatus.UNAUTHORIZED, "Unauthorized", "use a Bearer token")
        try:
            return verify_token(token, await accounts.keys.key_set())
        except InvalidTokenError as exc:
            raise ProblemError(HTTPStatus.UNAUTHORIZED, "Unauthorized", str(exc)) from exc
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    session = await accounts.session(session_id)
    if session is None:
        return None
    principal, csrf = session
    if request.method not in SAFE_METHODS:
        # A cookie rides along with any cross-site request; the CSRF token does not.
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            sent = str((await request.form()).get(CSRF_FIELD, ""))
        if not hmac.compare_digest(sent.encode(), csrf.encode()):
            raise ProblemError(HTTPStatus.FORBIDDEN, "CSRF check failed", "reload the page")
    request.state.csrf_token = csrf
    return principal


async def _signed_in(caller: Annotated[Principal | None, Depends(_caller)]) -> Principal:
    if caller is None:
        raise ProblemError(HTTPStatus.UNAUTHORIZED, "Unauthorized", "log in first")
    return caller


MaybeCaller = Annotated[Principal | None, Depends(_caller)]
Caller = Annotated[Principal, Depends(_signed_in)]


def require_role(caller: Principal, institution_id: str, *roles: Role) -> None:
    """Refuse unless the caller holds one of ``roles`` at the institution."""
    if not caller.has_role(institution_id, *roles):
        raise ProblemError(
            HTTPStatus.FORBIDDEN, "Forbidden", f"you have no such role at {institution_id}"
        )


def require_platform_admin(caller: Principal) -> None:
    if not caller.platform_admin:
        raise ProblemError(HTTPStatus.FORBIDDEN, "Forbidden", "platform administrators only")
