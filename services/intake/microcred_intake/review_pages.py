"""The evaluator's workspace as pages: the queue, one piece of evidence, and review settings.

Review owns the queue and the decisions. These pages call its API on the signed-in user's behalf
with a short-lived access token that intake mints, so review decides what the user may do exactly
as it does for any API client; intake checks the role first only to answer with a clear page.
Review's refusals (409, 403, 422) are shown on the page with their status and nothing changed;
when review cannot be reached the page says so with a 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from microcred_intake.deps import accounts_of, intake_of
from microcred_intake.domain import InstitutionCreate
from microcred_intake.formats import Formats, moment
from microcred_intake.pages import (
    KIND_NAMES,
    PageContext,
    administering,
    context,
    csrf_ok,
    refused,
    reviewing_at,
    see,
)
from microcred_intake.review_client import ReviewCalls, ReviewClient
from microcred_shared.auth import Principal, Role
from microcred_shared.contracts.envelope import Identifier, InstitutionId
from microcred_shared.http import ProblemError

router = APIRouter(include_in_schema=False)

#: The page's gettext: a message and its variables in, the translation out.
Gettext = Callable[..., str]

#: How many items the queue page shows, oldest first.
QUEUE_LIMIT = 100
#: Hours are decimals with two places at most, as review takes them.
HOURS_DECIMALS = 2
OPEN_STATUSES = ("pending", "awaiting_second_approval")
STATUS_FILTERS = {
    "open": "All open",
    "pending": "Awaiting review",
    "awaiting_second_approval": "Awaiting a second approval",
    "decided": "Decided",
    "reversed": "Approval reversed",
    "withdrawn": "Withdrawn",
    "refused": "Decision refused by the platform",
    "handed_over": "Handed to the institution's own reviewer",
}
#: An item's status, as the queue's filter names it.
ITEM_STATUSES = {k: v for k, v in STATUS_FILTERS.items() if k != "open"}
DECISIONS = {
    "approved": "Approved",
    "rejected": "Rejected",
    "changes_requested": "Changes requested",
    "reversed": "Approval reversed",
}
AUDIT_ACTIONS = {
    "queued": "Queued for review",
    "claimed": "Claimed",
    "released": "Claim released",
    "first_approval": "First approval",
    "approved": "Approved",
    "rejected": "Rejected",
    "changes_requested": "Changes requested",
    "reversed": "Approval reversed",
    "withdrawn": "Withdrawn",
    "refused": "Decision refused by the platform",
    "handed_over": "Handed to the institution's own reviewer",
    "taken_back": "Back in this workspace",
}
DECISION_CHOICES = ("approve", "reject", "request_changes")
MODES = {
    "builtin": "This platform's evaluators, on these pages",
    "external": "The institution's own review service",
}
NOTICES = {
    "claimed": "You claimed this evidence: other evaluators cannot decide on it for 30 minutes.",
    "released": "You released your claim.",
    "decided": "Your decision was recorded. The learner will see it on their dashboard.",
    "first_approval": "Your approval was recorded. A second evaluator must now confirm it.",
    "reversed": "The approval was reversed. Its hours no longer count.",
    "saved": "The review settings were saved.",
}
#: Review's refusals by problem title (and status, where one title covers several), told in
#: the user's language.
PROBLEMS: dict[tuple[str, int | None], str] = {
    ("Claimed", None): (
        "Another evaluator is reviewing this evidence. Try again once they have finished."
    ),
    ("Already decided", None): "This evidence has been decided already. Nothing was changed.",
    ("Withdrawn", None): "The learner withdrew this evidence. Nothing was changed.",
    ("Not open", None): "This evidence is not waiting for a decision. Nothing was changed.",
    ("Not pending", None): "This evidence is not waiting for a decision. Nothing was changed.",
    ("Own evidence", None): "No one decides on their own evidence. Nothing was changed.",
    ("Decision refused", HTTPStatus.FORBIDDEN): (
        "No one decides on their own evidence. Nothing was changed."
    ),
    ("Decision refused", HTTPStatus.CONFLICT): (
        "The second approval must come from another evaluator. Nothing was changed."
    ),
    ("Nothing to reverse", None): "Only an approval can be reversed. Nothing was changed.",
    ("Unknown evidence", None): "This institution's queue holds no such evidence.",
    ("Forbidden", None): "You may not do this at this institution.",
}
#: Actors of the audit trail that are no account.
SYSTEM_ACTORS = {"intake": "microcred", "review": "microcred", "learner": "Learner"}


def review_of(request: Request) -> ReviewClient:
    client: ReviewClient = request.app.state.review
    return client


def problem_message(page: PageContext, problem: ProblemError) -> str:
    known = PROBLEMS.get((problem.title, problem.status)) or PROBLEMS.get((problem.title, None))
    if known is not None:
        return str(page._(known))
    title = str(page._(problem.title))
    return f"{title}: {problem.detail}" if problem.detail else title


def parse_hours(text: str) -> Decimal | None:
    """Hours as typed (a decimal point or comma); None unless a number above 0, two decimals."""
    try:
        hours = Decimal(text.strip().replace(",", "."))
    except InvalidOperation:
        return None
    exponent = hours.as_tuple().exponent  # a letter for NaN and infinities
    if not isinstance(exponent, int) or exponent < -HOURS_DECIMALS or hours <= 0:
        return None
    return hours


def decision_body(_: Gettext, form: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Review's decision request from the form, or what is wrong with the form."""
    decision, reason = form.get("decision", ""), form.get("reason", "").strip()
    if decision not in DECISION_CHOICES:
        return {}, [_("Choose to approve, to reject or to request changes.")]
    body = {"decision": decision}
    errors = []
    if decision == "approve":
        typed = form.get("approved_hours", "").strip()
        if typed:
            hours = parse_hours(typed)
            if hours is None:
                errors.append(
                    _("Give the hours to approve as a number above 0, with at most two decimals.")
                )
            else:
                body["approved_hours"] = f"{hours:f}"
    elif not reason:
        errors.append(_("Give a reason: the learner sees it."))
    if reason:
        body["reason"] = reason
    return body, errors


# --- who may see what -------------------------------------------------------------------------


@dataclass
class Workspace:
    """A review page's context: the user, the institution, review called as the user."""

    page: PageContext
    user: Principal
    institution: InstitutionCreate
    review: ReviewCalls
    form: dict[str, str] = field(default_factory=dict)

    @property
    def formats(self) -> Formats:
        return Formats(self.page.translator.language)

    @property
    def is_admin(self) -> bool:
        return self.user.platform_admin or "institution_admin" in self.user.roles_in(
            self.institution.id
        )

    def queue_url(self) -> str:
        return f"/review/{self.institution.id}"

    def item_url(self, evidence_id: str) -> str:
        return f"/review/{self.institution.id}/evidence/{evidence_id}"


async def workspace(
    request: Request, institution_id: str, role: Role = "evaluator", *, posted: bool = False
) -> Workspace | Response:
    """The workspace, or the page that refuses it (log in first, form expired, forbidden)."""
    page = await context(request)
    if page.user is None:
        return see("/login")
    form: dict[str, str] = {}
    if posted:
        raw = await request.form()
        if not csrf_ok(page, raw):
            return refused(page)
        form = {k: v for k, v in raw.items() if isinstance(v, str) and k != "csrf_token"}
    if not page.user.has_role(institution_id, role):
        return message(
            page,
            HTTPStatus.FORBIDDEN,
            page._("Not allowed"),
            page._("You do not review evidence at this institution.")
            if role == "evaluator"
            else page._("Only the institution's administrators change its review settings."),
        )
    institution = await intake_of(request).store.institution(institution_id)
    if institution is None:
        return message(
            page, HTTPStatus.NOT_FOUND, page._("Unknown institution"), institution_id, link=False
        )
    token = await accounts_of(request).token_for(page.user, request.app.state.review_token_seconds)
    return Workspace(page, page.user, institution, review_of(request).acting_as(token), form)


def message(
    page: PageContext, status: int, heading: str, text: str, *, link: bool = True
) -> HTMLResponse:
    return page.render(
        "pages/message.html.j2",
        status,
        title=heading,
        heading=heading,
        message=text,
        link="/review" if link else None,
        link_text=page._("Review"),
    )


async def _institutions(request: Request, user: Principal, ids: list[str]) -> list[Any]:
    store = intake_of(request).store
    if user.platform_admin:
        return [{"id": d["_id"], "name": d["name"]} for d in await store.institutions_list()]
    found = [await store.institution(i) for i in ids]
    return [{"id": i.id, "name": i.name} for i in found if i is not None]


#: The evaluators' sections that start from a choice of institution: their path under
#: ``/review/{institution}``, and who may enter them.
SECTIONS: dict[str, tuple[str, bool]] = {
    "queue": ("", False),
    "settings": ("/settings", True),
    "report": ("/report", False),
}


async def choose_institution(
    request: Request, section: Literal["queue", "settings", "report"]
) -> Response:
    """Straight to the section at the user's one institution, or a choice among several."""
    page = await context(request)
    if page.user is None:
        return see("/login")
    suffix, admins_only = SECTIONS[section]
    ids = administering(page.user) if admins_only else reviewing_at(page.user)
    institutions = await _institutions(request, page.user, ids)
    if len(institutions) == 1:
        return see(f"/review/{institutions[0]['id']}{suffix}")
    heading = {
        "queue": page._("Review"),
        "settings": page._("Review settings"),
        "report": page._("Institution report"),
    }[section]
    if not institutions:
        return message(
            page,
            HTTPStatus.FORBIDDEN,
            heading,
            page._("You administer no institution.")
            if admins_only
            else page._("You are not an evaluator at any institution."),
            link=False,
        )
    return page.render(
        "pages/review_index.html.j2",
        title=heading,
        heading=heading,
        intro=page._("Choose an institution."),
        institutions=[{**i, "href": f"/review/{i['id']}{suffix}"} for i in institutions],
    )


@router.get("/review")
async def review_home(request: Request) -> Response:
    return await choose_institution(request, "queue")


@router.get("/review-settings")
async def settings_home(request: Request) -> Response:
    return await choose_institution(request, "settings")


# --- the queue --------------------------------------------------------------------------------


async def _filters(
    ws: Workspace, params: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The filters as typed, review's query for them, and what is wrong with them."""
    _ = ws.page._
    shown = {k: params.get(k, "").strip() for k in ("competence", "learner", "older_than_hours")}
    shown["status"] = params.get("status", "").strip() or "open"
    query = {"limit": str(QUEUE_LIMIT)}
    errors = []
    if shown["status"] in STATUS_FILTERS:
        query["status"] = shown["status"]
    else:
        errors.append(_("Choose a status from the list."))
    if shown["competence"]:
        if ws.institution.competence(shown["competence"]) is None:
            errors.append(_("Choose a competence from the list."))
        else:
            query["competence"] = shown["competence"]
    if shown["learner"]:
        learner = await accounts_of(ws.page.request).user_by_email(shown["learner"])
        memberships = (learner or {}).get("memberships", [])
        if learner is None or {"institution": ws.institution.id, "role": "learner"} not in (
            memberships
        ):
            errors.append(
                _(
                    "No learner of this institution has the address %(email)s.",
                    email=shown["learner"],
                )
            )
        else:
            query["learner"] = learner["_id"]
    if shown["older_than_hours"]:
        try:
            older = Decimal(shown["older_than_hours"].replace(",", "."))
        except InvalidOperation:
            older = Decimal(-1)
        if not older.is_finite() or older < 0:
            errors.append(_("Give the waiting time as a number of hours, 0 or more."))
        else:
            query["older_than_hours"] = f"{older:f}"
    return shown, query, errors


def _active_claim(item: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    claim = item.get("claim")
    if not isinstance(claim, dict):
        return None
    until = moment(claim.get("until"))
    return claim if until is not None and until > now else None


async def _names(ws: Workspace, ids: Iterable[Any]) -> dict[str, str]:
    """Display names of evaluators and administrators by account id ("you" for the user)."""
    wanted = {i for i in ids if isinstance(i, str) and i}
    names = await accounts_of(ws.page.request).names(wanted - SYSTEM_ACTORS.keys())
    names.update({k: ws.page._(v) for k, v in SYSTEM_ACTORS.items() if k in wanted})
    names[ws.user.user_id] = ws.page._("%(name)s (you)", name=ws.user.name)
    return names


def _status_label(ws: Workspace, item: Mapping[str, Any]) -> str:
    decision = item.get("decision") or {}
    if item.get("status") == "decided" and decision.get("decision") in DECISIONS:
        return str(ws.page._(DECISIONS[decision["decision"]]))
    status = str(item.get("status", ""))
    return str(ws.page._(ITEM_STATUSES[status])) if status in ITEM_STATUSES else status


@router.get("/review/{institution_id}")
async def queue(institution_id: InstitutionId, request: Request) -> Response:
    ws = await workspace(request, institution_id)
    if isinstance(ws, Response):
        return ws
    page, formats, now = ws.page, ws.formats, datetime.now(UTC)
    shown, query, errors = await _filters(ws, request.query_params)
    status: int = HTTPStatus.UNPROCESSABLE_ENTITY if errors else HTTPStatus.OK
    items: list[dict[str, Any]] = []
    times: dict[str, Any] = {}
    try:
        if errors:
            times = await ws.review.decision_times(institution_id)
        else:
            items, times = await asyncio.gather(
                ws.review.queue(institution_id, query), ws.review.decision_times(institution_id)
            )
    except ProblemError as exc:
        errors, status = [problem_message(page, exc)], exc.status
    claims = {i.get("evidence_id"): _active_claim(i, now) for i in items}
    names = await _names(ws, (c["by"] for c in claims.values() if c))
    rows = []
    for item in items:
        submitted = item.get("submitted", {})
        claim = claims.get(item.get("evidence_id"))
        rows.append(
            {
                "href": ws.item_url(item["evidence_id"]),
                "learner": submitted.get("learner", {}),
                "competence": submitted.get("competence", {}).get("title", ""),
                "title": submitted.get("title", ""),
                "hours": submitted.get("hours", "0"),
                "age": formats.age(item.get("queued_at"), now),
                "status": _status_label(ws, item),
                "claimed_by": names.get(claim["by"], claim["by"]) if claim else "",
            }
        )
    return page.render(
        "pages/review_queue.html.j2",
        status,
        title=page._("Review queue"),
        institution=ws.institution,
        section="queue",
        is_admin=ws.is_admin,
        filters=shown,
        statuses=[(k, page._(v)) for k, v in STATUS_FILTERS.items()],
        errors=errors,
        rows=rows,
        full=len(items) >= QUEUE_LIMIT,
        limit=QUEUE_LIMIT,
        times={
            "pending": times.get("pending", "—"),
            "decided": times.get("decided", "—"),
            "median": formats.hours(times.get("median_hours")),
            "p90": formats.hours(times.get("p90_hours")),
        }
        if times
        else None,
    )


# --- one piece of evidence --------------------------------------------------------------------


async def _item_page(
    ws: Workspace,
    evidence_id: str,
    *,
    status: int = HTTPStatus.OK,
    errors: list[str] | None = None,
    refusal: ProblemError | None = None,
    notice: str | None = None,
) -> Response:
    """The item as review has it now, with the forms that apply and any refusal to explain."""
    page, formats, now = ws.page, ws.formats, datetime.now(UTC)
    try:
        item = await ws.review.item(ws.institution.id, evidence_id)
    except ProblemError as exc:
        return page.render(
            "pages/message.html.j2",
            exc.status,
            title=page._("Evidence"),
            heading=page._("Evidence"),
            message=problem_message(page, exc),
            link=ws.queue_url(),
            link_text=page._("Back to the queue"),
        )
    submitted: dict[str, Any] = item.get("submitted", {})
    me = ws.user.user_id
    claim = _active_claim(item, now)
    first = item.get("first_approval") or None
    decision = item.get("decision") or None
    reversal = item.get("reversal") or None
    audit = item.get("audit") or []
    names = await _names(
        ws,
        [
            claim and claim.get("by"),
            first and first.get("evaluator_id"),
            decision and decision.get("evaluator_id"),
            decision and decision.get("second_evaluator_id"),
            reversal and reversal.get("evaluator_id"),
            *(entry.get("by") for entry in audit),
        ],
    )
    open_ = item.get("status") in OPEN_STATUSES
    own = submitted.get("learner_id") == me
    claimed_by_other = claim is not None and claim.get("by") != me
    first_by_me = first is not None and first.get("evaluator_id") == me
    claimed_hours = str(submitted.get("hours", ""))
    form = {
        "decision": "approve",
        "approved_hours": str((first or {}).get("approved_hours") or claimed_hours),
        "reason": "",
        **ws.form,
    }
    messages = list(errors or [])
    if refusal is not None:
        typed = parse_hours(form.get("approved_hours", ""))
        too_many = (
            refusal.status == HTTPStatus.UNPROCESSABLE_ENTITY
            and form.get("decision") == "approve"
            and typed is not None
            and claimed_hours
            and typed > Decimal(claimed_hours)
        )
        messages.append(
            page._(
                "You can approve at most the %(hours)s hours claimed. Nothing was changed.",
                hours=f"{Decimal(claimed_hours).normalize():f}",
            )
            if too_many
            else problem_message(page, refusal)
        )
    files = [
        {
            "href": f"/institutions/{ws.institution.id}/evidence/{evidence_id}/files/{index}",
            "name": stored.get("filename", f"file-{index + 1}"),
            "size": formats.size(int(stored.get("size", 0))),
        }
        for index, stored in enumerate(submitted.get("files", []))
    ]
    return page.render(
        "pages/review_item.html.j2",
        status,
        title=submitted.get("title") or page._("Evidence"),
        institution=ws.institution,
        queue_url=ws.queue_url(),
        item_url=ws.item_url(evidence_id),
        item=item,
        submitted=submitted,
        kind=page._(KIND_NAMES.get(submitted.get("kind", ""), "Other")),
        status_label=_status_label(ws, item),
        dates={
            "start": formats.day(submitted.get("start_date")),
            "end": formats.day(submitted.get("end_date")),
            "submitted": formats.when(submitted.get("submitted_at")),
            "queued": formats.when(item.get("queued_at")),
        },
        files=files,
        claim={
            "by": names.get(claim["by"], claim["by"]),
            "until": formats.when(claim.get("until")),
            "mine": not claimed_by_other,
        }
        if claim
        else None,
        first=(
            {
                "hours": first.get("approved_hours") or "0",
                "by": names.get(first.get("evaluator_id", ""), ""),
                "at": formats.when(first.get("decided_at")),
                "mine": first_by_me,
            }
            if first
            else None
        ),
        outcome=_outcome(page, formats, names, decision),
        reversal=_outcome(page, formats, names, reversal),
        refusal=item.get("refusal"),
        audit=[
            {
                "action": page._(AUDIT_ACTIONS[entry.get("action", "")])
                if entry.get("action") in AUDIT_ACTIONS
                else str(entry.get("action", "")).replace("_", " "),
                "by": names.get(entry.get("by", ""), entry.get("by", "")),
                "at": formats.when(entry.get("at")),
                "detail": entry.get("detail", ""),
            }
            for entry in audit
        ],
        own=own,
        can_claim=open_ and not own and claim is None and not first_by_me,
        can_release=claim is not None and not claimed_by_other,
        can_decide=open_ and not own and not claimed_by_other and not first_by_me,
        second=item.get("status") == "awaiting_second_approval",
        can_reverse=ws.is_admin
        and item.get("status") == "decided"
        and (decision or {}).get("decision") == "approved",
        form=form,
        errors=messages,
        notice=notice,
    )


def _outcome(
    page: PageContext, formats: Formats, names: Mapping[str, str], record: Any
) -> dict[str, Any] | None:
    if not isinstance(record, dict):
        return None
    kind = str(record.get("decision", ""))
    second = record.get("second_evaluator_id")
    return {
        "decision": page._(DECISIONS[kind]) if kind in DECISIONS else kind,
        "approved": kind == "approved",
        "hours": record.get("approved_hours") or "0",
        "reason": record.get("reason", ""),
        "by": names.get(record.get("evaluator_id", ""), record.get("evaluator_id", "")),
        "second_by": names.get(second, second) if second else None,
        "at": formats.when(record.get("decided_at")),
    }


@router.get("/review/{institution_id}/evidence/{evidence_id}")
async def item_page(
    institution_id: InstitutionId, evidence_id: Identifier, request: Request
) -> Response:
    ws = await workspace(request, institution_id)
    if isinstance(ws, Response):
        return ws
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return await _item_page(ws, evidence_id, notice=ws.page._(notice) if notice else None)


async def _act(
    request: Request,
    institution_id: str,
    evidence_id: str,
    action: str,
    role: Role = "evaluator",
) -> Response:
    """Claim, release, decide or reverse; then back to the item, which shows what happened."""
    ws = await workspace(request, institution_id, role, posted=True)
    if isinstance(ws, Response):
        return ws
    body: dict[str, str] | None = None
    if action == "decision":
        body, errors = decision_body(ws.page._, ws.form)
        if errors:
            return await _item_page(
                ws, evidence_id, status=HTTPStatus.UNPROCESSABLE_ENTITY, errors=errors
            )
    elif action == "reversal":
        reason = ws.form.get("reversal_reason", "").strip()
        if not reason:
            return await _item_page(
                ws,
                evidence_id,
                status=HTTPStatus.UNPROCESSABLE_ENTITY,
                errors=[ws.page._("Give a reason for the reversal: the learner sees it.")],
            )
        body = {"reason": reason}
    try:
        outcome = await ws.review.act(institution_id, evidence_id, action, body)
    except ProblemError as exc:
        return await _item_page(ws, evidence_id, status=exc.status, refusal=exc)
    notice = {"claim": "claimed", "release": "released", "reversal": "reversed"}.get(action)
    if action == "decision":
        waiting = outcome.get("status") == "awaiting_second_approval"
        notice = "first_approval" if waiting else "decided"
    return see(f"{ws.item_url(evidence_id)}?notice={notice}")


#: What each action on an item asks of the signed-in user.
ACTION_ROLES: dict[str, Role] = {
    "claim": "evaluator",
    "release": "evaluator",
    "decision": "evaluator",
    "reversal": "institution_admin",
}


@router.post("/review/{institution_id}/evidence/{evidence_id}/{action}")
async def act_on_item(
    institution_id: InstitutionId,
    evidence_id: Identifier,
    action: Literal["claim", "release", "decision", "reversal"],
    request: Request,
) -> Response:
    return await _act(request, institution_id, evidence_id, action, ACTION_ROLES[action])


# --- review settings --------------------------------------------------------------------------


def settings_body(_: Gettext, form: Mapping[str, str]) -> tuple[dict[str, str | None], list[str]]:
    mode = form.get("mode", "")
    errors = [] if mode in MODES else [_("Choose who reviews the evidence.")]
    typed = form.get("second_approval_above_hours", "").strip()
    threshold = parse_hours(typed) if typed else None
    if typed and threshold is None:
        errors.append(_("Give the threshold as a number of hours above 0, or leave it empty."))
    return {
        "mode": mode,
        "second_approval_above_hours": f"{threshold:f}" if threshold is not None else None,
    }, errors


def _settings_page(
    ws: Workspace,
    values: Mapping[str, Any],
    *,
    status: int = HTTPStatus.OK,
    errors: list[str] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    page = ws.page
    return page.render(
        "pages/review_settings.html.j2",
        status,
        title=page._("Review settings"),
        institution=ws.institution,
        section="settings",
        is_admin=True,
        modes=[(k, page._(v)) for k, v in MODES.items()],
        form={
            "mode": values.get("mode") or "builtin",
            "second_approval_above_hours": values.get("second_approval_above_hours") or "",
        },
        errors=errors or [],
        notice=notice,
    )


@router.get("/review/{institution_id}/settings")
async def settings_form(institution_id: InstitutionId, request: Request) -> Response:
    ws = await workspace(request, institution_id, "institution_admin")
    if isinstance(ws, Response):
        return ws
    try:
        current = await ws.review.settings(institution_id)
    except ProblemError as exc:
        return _settings_page(ws, {}, status=exc.status, errors=[problem_message(ws.page, exc)])
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return _settings_page(ws, current, notice=ws.page._(notice) if notice else None)


@router.post("/review/{institution_id}/settings")
async def save_settings(institution_id: InstitutionId, request: Request) -> Response:
    ws = await workspace(request, institution_id, "institution_admin", posted=True)
    if isinstance(ws, Response):
        return ws
    body, errors = settings_body(ws.page._, ws.form)
    if errors:
        return _settings_page(ws, ws.form, status=HTTPStatus.UNPROCESSABLE_ENTITY, errors=errors)
    try:
        await ws.review.save_settings(institution_id, body)
    except ProblemError as exc:
        return _settings_page(
            ws, ws.form, status=exc.status, errors=[problem_message(ws.page, exc)]
        )
    return see(f"/review/{institution_id}/settings?notice=saved")


# --- review out of reach ----------------------------------------------------------------------

ACTIONS = ("/claim", "/release", "/decision", "/reversal")


async def review_unavailable(request: Request, _exc: Exception) -> Response:
    """Review cannot be reached: say so, with a way back to the page, instead of a traceback."""
    page = await context(request)
    path = request.url.path
    if request.method == "GET" and request.url.query:
        path = f"{path}?{request.url.query}"
    elif path.endswith(ACTIONS):
        path = path.rsplit("/", 1)[0]
    response = page.render(
        "pages/message.html.j2",
        HTTPStatus.SERVICE_UNAVAILABLE,
        title=page._("Review is unavailable"),
        heading=page._("Review is unavailable"),
        message=page._(
            "The review service cannot be reached just now. Wait a moment and try again."
        ),
        link=path,
        link_text=page._("Try again"),
    )
    response.headers["Retry-After"] = "10"
    return response
