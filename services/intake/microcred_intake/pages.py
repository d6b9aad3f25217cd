"""The learner's pages: server-rendered, translated, usable by keyboard and screen reader.

Browser forms are protected from cross-site forgery by a token: the session's own once a learner
is logged in, a double-submit cookie before that (register, log in, reset).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from decimal import Decimal
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from microcred_intake.accounts import (
    Credentials,
    NewPassword,
    Registration,
    new_token,
    principal_of,
)
from microcred_intake.accounts import ResetRequest as ResetRequestBody
from microcred_intake.dashboard import load
from microcred_intake.deps import (
    SESSION_COOKIE,
    accounting_as,
    accounts_of,
    intake_of,
    set_session_cookie,
)
from microcred_intake.domain import EvidenceForm, InstitutionCreate
from microcred_intake.formats import Formats
from microcred_intake.handlers import IncomingFile, Learner
from microcred_intake.i18n import LANGUAGES, Translator, choose_language
from microcred_shared.auth import Principal
from microcred_shared.contracts.events import LearnerProfile
from microcred_shared.http import ProblemError
from microcred_shared.i18n import Translator as SharedTranslator

FORM_CSRF_COOKIE = "microcred_csrf"
LANGUAGE_COOKIE = "microcred_lang"

templates = Environment(
    loader=PackageLoader("microcred_intake", "templates"),
    autoescape=select_autoescape(["html", "html.j2"]),
    extensions=["jinja2.ext.i18n"],
)
templates.filters["hours"] = lambda value: f"{Decimal(value).normalize():f}"


def wallet_reference(credential_id: str) -> str:
    """The wallet's name of a credential: the last part of its id (``urn:uuid:<uuid>``), quoted."""
    return quote(str(credential_id).rsplit(":", 1)[-1], safe="")


templates.filters["wallet_ref"] = wallet_reference

#: Longest ``next`` a page takes. A login's may be longer: it carries a handoff's own URL, whose
#: ``next`` (ASCII, as the notifier sends it) may take three times its length once escaped.
MAX_NEXT = 2000
MAX_LOGIN_NEXT = 8000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def local_path(value: str | None, max_length: int = MAX_NEXT) -> str | None:
    r"""``value`` if it is a path on the same site (never another host), else None.

    It starts with one ``/`` (``//host`` is another site), holds no backslash (browsers read
    ``/\host`` as ``//host``), no control character (browsers drop tabs and newlines, which
    could make ``//`` again), no scheme or host, and is at most ``max_length`` characters.
    """
    if (
        not value
        or len(value) > max_length
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or _CONTROL.search(value)
    ):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


router = APIRouter(include_in_schema=False)


class PageContext:
    """What every page needs: the language, the learner if any, the form token."""

    def __init__(
        self, request: Request, translator: SharedTranslator, user: Principal | None, csrf: str
    ) -> None:
        self.request = request
        self.translator = translator
        self.user = user
        self.csrf = csrf

    @property
    def _(self) -> Any:
        return self.translator.gettext

    def render(self, template: str, status: int = HTTPStatus.OK, **values: Any) -> HTMLResponse:
        templates.install_gettext_callables(  # type: ignore[attr-defined]
            self.translator.gettext, self.translator.ngettext, newstyle=True
        )
        page = templates.get_template(template).render(
            lang=self.translator.language,
            languages=LANGUAGES,
            user=self.user,
            nav=navigation(self.user),
            notifier_url=self.request.app.state.notifier_url,
            csrf_token=self.csrf,
            **values,
        )
        response = HTMLResponse(page, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
        )
        if self.request.query_params.get("lang") == self.translator.language:
            response.set_cookie(
                LANGUAGE_COOKIE, self.translator.language, max_age=365 * 86400, samesite="lax"
            )
        if not self.user and self.request.cookies.get(FORM_CSRF_COOKIE) != self.csrf:
            response.set_cookie(FORM_CSRF_COOKIE, self.csrf, httponly=True, samesite="strict")
        return response


REVIEW_ROLES = frozenset({"evaluator", "institution_admin"})


def reviewing_at(user: Principal) -> list[str]:
    """Institutions where the user reviews evidence, in the order they were given the role."""
    found = [m.institution for m in user.memberships if m.role in REVIEW_ROLES]
    return list(dict.fromkeys(found))


def administering(user: Principal) -> list[str]:
    found = [m.institution for m in user.memberships if m.role == "institution_admin"]
    return list(dict.fromkeys(found))


def navigation(user: Principal | None) -> dict[str, bool]:
    """Which sections the main navigation offers the signed-in user."""
    if user is None:
        return {"learner": False, "review": False, "review_settings": False}
    review = user.platform_admin or bool(reviewing_at(user))
    learner = any(m.role == "learner" for m in user.memberships)
    return {
        "learner": learner or not review,
        "review": review,
        "review_settings": user.platform_admin or bool(administering(user)),
    }


def start_page(user: Principal) -> str:
    """Where logging in leads: the learner's dashboard, or the review queue for staff only."""
    learner = any(m.role == "learner" for m in user.memberships)
    return "/review" if navigation(user)["review"] and not learner else "/dashboard"


async def context(request: Request) -> PageContext:
    language = choose_language(
        request.query_params.get("lang"),
        request.cookies.get(LANGUAGE_COOKIE),
        request.headers.get("accept-language", ""),
    )
    translator = Translator.for_language(language)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        session = await accounts_of(request).session(session_id)
        if session is not None:
            return PageContext(request, translator, session[0], session[1])
    csrf = request.cookies.get(FORM_CSRF_COOKIE) or new_token()
    return PageContext(request, translator, None, csrf)


def csrf_ok(page: PageContext, form: Mapping[str, Any]) -> bool:
    sent = str(form.get("csrf_token", ""))
    return bool(sent) and hmac.compare_digest(sent.encode(), page.csrf.encode())


def refused(page: PageContext) -> HTMLResponse:
    return page.render(
        "pages/message.html.j2",
        HTTPStatus.FORBIDDEN,
        title=page._("Form expired"),
        heading=page._("Form expired"),
        message=page._("This form has expired. Go back, reload the page and try again."),
    )


def see(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=HTTPStatus.SEE_OTHER)


def field_errors(page: PageContext, error: ValidationError) -> list[str]:
    labels = {
        "email": page._("E-mail address"),
        "password": page._("Password"),
        "name": page._("Full name"),
        "competence_id": page._("Competence"),
        "title": page._("Title"),
        "hours": page._("Hours of learning"),
        "start_date": page._("Start date"),
        "end_date": page._("End date"),
        "provider": page._("Provider or organiser"),
    }
    messages = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        messages.append(f"{labels.get(field, field or page._('Form'))}: {item['msg']}")
    return messages


@router.get("/")
async def home(request: Request) -> HTMLResponse:
    page = await context(request)
    return page.render("pages/home.html.j2", title="microcred")


@router.get("/register")
async def register_form(request: Request) -> HTMLResponse:
    page = await context(request)
    return await _register_page(page, {}, [])


async def _register_page(
    page: PageContext, form: Mapping[str, Any], errors: list[str], status: int = HTTPStatus.OK
) -> HTMLResponse:
    institutions = [
        {"id": d["_id"], "name": d["name"], "country": d["country"]}
        for d in await intake_of(page.request).store.institutions_list()
    ]
    return page.render(
        "pages/register.html.j2",
        status,
        title=page._("Create your account"),
        institutions=institutions,
        form=form,
        errors=errors,
    )


@router.post("/register")
async def register(request: Request) -> Response:
    page = await context(request)
    form = await request.form()
    if not csrf_ok(page, form):
        return refused(page)
    values = {k: str(form.get(k, "")) for k in ("email", "password", "name", "institution_id")}
    try:
        registration = Registration.model_validate({**values, "locale": page.translator.language})
    except ValidationError as exc:
        return await _register_page(
            page, values, field_errors(page, exc), HTTPStatus.UNPROCESSABLE_ENTITY
        )
    if await intake_of(request).store.institution(registration.institution_id) is None:
        return await _register_page(
            page, values, [page._("Choose an institution.")], HTTPStatus.UNPROCESSABLE_ENTITY
        )
    await accounts_of(request).register(registration)
    return page.render(
        "pages/message.html.j2",
        title=page._("Check your e-mail"),
        heading=page._("Check your e-mail"),
        message=page._(
            "We sent a link to %(email)s. Follow it to confirm your address, then log in.",
            email=registration.email,
        ),
        link="/login",
        link_text=page._("Log in"),
    )


def _login_page(
    page: PageContext,
    next_path: str | None,
    form: Mapping[str, Any],
    errors: list[str],
    status: int = HTTPStatus.OK,
) -> HTMLResponse:
    return page.render(
        "pages/login.html.j2",
        status,
        title=page._("Log in"),
        form=form,
        errors=errors,
        next_path=next_path,
        # The language links keep where logging in leads.
        language_query=urlencode({"next": next_path}) + "&" if next_path else "",
    )


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    """The login form; ``next`` (a path on this site) is where a successful login leads."""
    page = await context(request)
    return _login_page(page, local_path(request.query_params.get("next"), MAX_LOGIN_NEXT), {}, [])


@router.post("/login")
async def login(request: Request) -> Response:
    page = await context(request)
    form = await request.form()
    if not csrf_ok(page, form):
        return refused(page)
    email = str(form.get("email", ""))
    next_path = local_path(str(form.get("next", "")), MAX_LOGIN_NEXT)
    accounts = accounts_of(request)
    try:
        credentials = Credentials.model_validate(
            {"email": email, "password": str(form.get("password", ""))}
        )
        user = await accounts.authenticate(
            credentials, request.client.host if request.client else "unknown"
        )
    except (ValidationError, ProblemError) as exc:
        message = (
            page._("Wrong e-mail address or password.")
            if isinstance(exc, ValidationError) or exc.status == HTTPStatus.UNAUTHORIZED
            else page._(exc.title) + (f" — {exc.detail}" if exc.detail else "")
        )
        status = exc.status if isinstance(exc, ProblemError) else HTTPStatus.UNAUTHORIZED
        return _login_page(page, next_path, {"email": email}, [message], status)
    session_id, _csrf = await accounts.open_session(user)
    response = see(next_path or start_page(principal_of(user)))
    set_session_cookie(response, session_id, accounts, request)
    response.delete_cookie(FORM_CSRF_COOKIE)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    page = await context(request)
    form = await request.form()
    if page.user is None:
        return see("/login")
    if not csrf_ok(page, form):
        return refused(page)
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await accounts_of(request).close_session(session_id)
    response = see("/")
    response.delete_cookie(SESSION_COOKIE)
    return response


async def learner_context(request: Request) -> tuple[PageContext, InstitutionCreate | None]:
    """The page and the institution the signed-in learner works at (None if they have none)."""
    page = await context(request)
    if page.user is None:
        return page, None
    institution_id = _learner_institution(page.user, request)
    institution = (
        await intake_of(request).store.institution(institution_id) if institution_id else None
    )
    return page, institution


def _learner_institution(user: Principal, request: Request) -> str | None:
    wanted = request.query_params.get("institution")
    learning = [m.institution for m in user.memberships if m.role == "learner"]  # explicit only
    if wanted and wanted in learning:
        return wanted
    return learning[0] if learning else None


STATUS_NAMES = {
    "submitted": "Awaiting review",
    "approved": "Approved",
    "rejected": "Rejected",
    "changes_requested": "Changes requested",
    "reversed": "Approval withdrawn",
    "withdrawn": "Withdrawn",
    "resubmitted": "Resubmitted",
}
KIND_NAMES = {
    "course": "Course",
    "workshop": "Workshop",
    "work_experience": "Work experience",
    "volunteering": "Volunteering",
    "self_study": "Self-study",
    "other": "Other",
}
NOTICES = {
    "uploaded": "Your evidence was uploaded. An evaluator will review it.",
    "withdrawn": "The evidence was withdrawn.",
}


@router.get("/dashboard")
async def dashboard(request: Request) -> Response:
    page, institution = await learner_context(request)
    if page.user is None:
        return see("/login")
    intake = intake_of(request)
    if institution is None:
        return page.render(
            "pages/message.html.j2",
            title=page._("Dashboard"),
            heading=page._("Dashboard"),
            message=page._("You are not a learner of any institution yet."),
        )
    evidence = await intake.store.evidence_of(institution.id, page.user.user_id)
    board = await load(
        intake.store, await accounting_as(request, page.user), institution, page.user.user_id
    )
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return page.render(
        "pages/dashboard.html.j2",
        title=page._("Dashboard"),
        institution=institution,
        progress=board.competences,
        pathways=board.pathways,
        without_ledger=board.ledger == "intake",
        formats=Formats(page.translator.language),
        evidence=[{"id": e["_id"], **e} for e in reversed(evidence)],
        statuses={k: page._(v) for k, v in STATUS_NAMES.items()},
        notice=page._(notice) if notice else None,
        issuer_url=request.app.state.issuer_url,
    )


async def _upload_page(
    page: PageContext,
    institution: InstitutionCreate,
    form: Mapping[str, Any],
    errors: list[str],
    status: int = HTTPStatus.OK,
) -> HTMLResponse:
    intake = intake_of(page.request)
    return page.render(
        "pages/evidence_new.html.j2",
        status,
        title=page._("Upload evidence"),
        institution=institution,
        kinds=[(k, page._(v)) for k, v in KIND_NAMES.items()],
        form=form,
        errors=errors,
        accept=",".join(institution.accepted_file_types),
        max_mb=intake.max_file_bytes // (1024 * 1024),
    )


@router.get("/evidence/new")
async def upload_form(request: Request) -> Response:
    page, institution = await learner_context(request)
    if page.user is None:
        return see("/login")
    if institution is None:
        return see("/dashboard")
    return await _upload_page(page, institution, {"kind": "course"}, [])


@router.post("/evidence/new")
async def upload(request: Request) -> Response:
    page, institution = await learner_context(request)
    if page.user is None:
        return see("/login")
    intake = intake_of(request)
    if institution is None:
        return see("/dashboard")
    form = await request.form()
    if not csrf_ok(page, form):
        return refused(page)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    try:
        evidence = EvidenceForm.model_validate(values)
        accounts = accounts_of(request)
        user = await accounts.user(page.user.user_id)
        learner = Learner(
            id=page.user.user_id,
            profile=LearnerProfile(
                name=page.user.name,
                email=page.user.email,
                locale=(user or {}).get("locale", "en"),
            ),
        )
        await intake.submit_evidence(
            institution.id,
            learner,
            evidence,
            [IncomingFile(filename=f.filename, stream=f.file) for f in files],
        )
    except ValidationError as exc:
        return await _upload_page(
            page, institution, values, field_errors(page, exc), HTTPStatus.UNPROCESSABLE_ENTITY
        )
    except ProblemError as exc:
        detail = "; ".join(e["message"] for e in exc.extensions.get("errors", [])) or exc.detail
        return await _upload_page(
            page, institution, values, [f"{page._(exc.title)}: {detail}"], exc.status
        )
    return see("/dashboard?notice=uploaded")


@router.post("/evidence/{evidence_id}/withdraw")
async def withdraw(evidence_id: str, request: Request) -> Response:
    page = await context(request)
    if page.user is None:
        return see("/login")
    form = await request.form()
    if not csrf_ok(page, form):
        return refused(page)
    institution_id = _learner_institution(page.user, request)
    if institution_id is None:
        return see("/dashboard")
    try:
        await intake_of(request).withdraw(institution_id, page.user.user_id, evidence_id)
    except ProblemError as exc:
        return page.render(
            "pages/message.html.j2",
            exc.status,
            title=page._(exc.title),
            heading=page._(exc.title),
            message=exc.detail,
            link="/dashboard",
            link_text=page._("Dashboard"),
        )
    return see("/dashboard?notice=withdrawn")


@router.get("/password-reset")
async def reset_request_form(request: Request) -> HTMLResponse:
    page = await context(request)
    return page.render(
        "pages/reset_request.html.j2", title=page._("Reset your password"), errors=[]
    )


@router.post("/password-reset")
async def reset_request(request: Request) -> Response:
    page = await context(request)
    form = await request.form()
    if not csrf_ok(page, form):
        return refused(page)
    try:
        body = ResetRequestBody.model_validate({"email": str(form.get("email", ""))})
        await accounts_of(request).request_reset(
            body, request.client.host if request.client else "unknown"
        )
    except ValidationError as exc:
        return page.render(
            "pages/reset_request.html.j2",
            HTTPStatus.UNPROCESSABLE_ENTITY,
            title=page._("Reset your password"),
            errors=field_errors(page, exc),
        )
    except ProblemError as exc:
        return page.render(
            "pages/reset_request.html.j2",
            exc.status,
            title=page._("Reset your password"),
            errors=[f"{page._(exc.title)}: {exc.detail}"],
        )
    return page.render(
        "pages/message.html.j2",
        title=page._("Check your e-mail"),
        heading=page._("Check your e-mail"),
        message=page._("If an account uses this address, we sent it a link to reset the password."),
    )


@router.get("/auth/password-reset/{token}")
async def reset_form(token: str, request: Request) -> HTMLResponse:
    page = await context(request)
    return page.render(
        "pages/reset_confirm.html.j2",
        title=page._("Choose a new password"),
        token=token,
        errors=[],
    )


@router.post("/auth/password-reset/{token}")
async def reset(token: str, request: Request) -> Response:
    page = await context(request)
    form = await request.form()
    if not csrf_ok(page, form):
        return refused(page)
    try:
        body = NewPassword.model_validate(
            {"token": token, "password": str(form.get("password", ""))}
        )
        await accounts_of(request).reset_password(body)
    except ValidationError as exc:
        return page.render(
            "pages/reset_confirm.html.j2",
            HTTPStatus.UNPROCESSABLE_ENTITY,
            title=page._("Choose a new password"),
            token=token,
            errors=field_errors(page, exc),
        )
    except ProblemError as exc:
        return page.render(
            "pages/message.html.j2",
            exc.status,
            title=page._(exc.title),
            heading=page._(exc.title),
            message=page._("This link is invalid or has expired. Ask for a new one."),
            link="/password-reset",
            link_text=page._("Reset your password"),
        )
    return page.render(
        "pages/message.html.j2",
        title=page._("Password changed"),
        heading=page._("Password changed"),
        message=page._("Your password was changed. Log in with the new one."),
        link="/login",
        link_text=page._("Log in"),
    )
