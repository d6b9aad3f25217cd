"""Accounts over HTTP: register, verify, tokens, browser sessions, password reset, roles."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, StringConstraints

from microcred_intake.accounts import Credentials, MembershipGrant, NewPassword, Registration
from microcred_intake.accounts import ResetRequest as ResetRequestBody
from microcred_intake.deps import (
    SESSION_COOKIE,
    AccountsDep,
    Caller,
    IntakeDep,
    require_role,
    set_session_cookie,
)
from microcred_shared.contracts.envelope import Identifier
from microcred_shared.http import ProblemError

router = APIRouter(tags=["accounts"])
pages = Environment(
    loader=PackageLoader("microcred_intake", "templates"),
    autoescape=select_autoescape(["html", "html.j2"]),
)


class EmailToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(min_length=20, max_length=100)]


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/.well-known/jwks.json", tags=["identity"])
async def jwks(accounts: AccountsDep) -> dict[str, Any]:
    """The public keys that verify microcred's access tokens."""
    return await accounts.keys.public_set()


@router.post("/auth/register", status_code=HTTPStatus.ACCEPTED)
async def register(body: Registration, accounts: AccountsDep, intake: IntakeDep) -> dict[str, Any]:
    """Register as a learner of an institution; a link to confirm the address is e-mailed."""
    if await intake.store.institution(body.institution_id) is None:
        raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown institution", body.institution_id)
    return await accounts.register(body)


@router.post("/auth/verify")
async def verify(body: EmailToken, accounts: AccountsDep) -> dict[str, Any]:
    """Confirm an e-mail address with the token from the link."""
    user = await accounts.verify_email(body.token)
    return {"email": user["email"], "email_verified": True}


@router.get("/auth/verify/{token}", response_class=HTMLResponse, include_in_schema=False)
async def verify_page(token: str, accounts: AccountsDep) -> HTMLResponse:
    """Where the e-mailed confirmation link lands."""
    try:
        user = await accounts.verify_email(token)
    except ProblemError:
        page = pages.get_template("verified.html.j2").render(title="Link expired", ok=False)
        return HTMLResponse(page, status_code=HTTPStatus.BAD_REQUEST)
    page = pages.get_template("verified.html.j2").render(
        title="Address confirmed", ok=True, email=user["email"]
    )
    return HTMLResponse(page)


@router.post("/auth/token")
async def token(body: Credentials, request: Request, accounts: AccountsDep) -> dict[str, Any]:
    """Exchange e-mail and password for a bearer token (API clients)."""
    user = await accounts.authenticate(body, client_of(request))
    access_token, lifetime = await accounts.access_token(user)
    return {"access_token": access_token, "token_type": "bearer", "expires_in": lifetime}


@router.post("/auth/login")
async def login(body: Credentials, request: Request, accounts: AccountsDep) -> JSONResponse:
    """Open a browser session (HttpOnly, SameSite cookie); forms then send the CSRF token."""
    user = await accounts.authenticate(body, client_of(request))
    session_id, csrf = await accounts.open_session(user)
    response = JSONResponse({"csrf_token": csrf, "email": user["email"]})
    set_session_cookie(response, session_id, accounts, request)
    return response


@router.post("/auth/logout", status_code=HTTPStatus.NO_CONTENT)
async def logout(request: Request, _caller: Caller, accounts: AccountsDep) -> Response:
    """End the browser session."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await accounts.close_session(session_id)
    response = Response(status_code=HTTPStatus.NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/auth/password-reset", status_code=HTTPStatus.ACCEPTED)
async def request_reset(
    body: ResetRequestBody, request: Request, accounts: AccountsDep
) -> dict[str, str]:
    """E-mail a password-reset link (the answer is the same whether the account exists)."""
    await accounts.request_reset(body, client_of(request))
    return {"status": "sent if the account exists"}


@router.post("/auth/password-reset/confirm", status_code=HTTPStatus.NO_CONTENT)
async def reset(body: NewPassword, accounts: AccountsDep) -> Response:
    """Set a new password with the token from the link; every open session ends."""
    await accounts.reset_password(body)
    return Response(status_code=HTTPStatus.NO_CONTENT)


@router.get("/auth/me")
async def me(caller: Caller) -> dict[str, Any]:
    """The signed-in account and its roles."""
    return caller.model_dump(mode="json")


@router.post("/institutions/{institution_id}/members")
async def grant_role(
    institution_id: Identifier, body: MembershipGrant, caller: Caller, accounts: AccountsDep
) -> dict[str, Any]:
    """Give an account a role at the institution (institution or platform administrators)."""
    require_role(caller, institution_id, "institution_admin")
    user = await accounts.grant(institution_id, body)
    return {"email": user["email"], "memberships": user["memberships"]}
