"""The institution report as a page, for the institution's evaluators and administrators.

Accounting owns the figures (hours approved, awards, pathways); this page calls its report API
on the signed-in user's behalf with a short-lived access token, as the evaluators' pages call
review, and draws the figures as server-side SVG bar charts with the numbers in tables beside
them. The CSV files come from accounting through intake, so the browser's session is enough to
download them. When accounting cannot be reached the page says so with a 503.

Only the month-by-month figures (charts, table, CSV) follow the period chosen; accounting's
totals and its figures per competence and per pathway are to date, and the page's headings and
captions say which is which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from microcred_intake.accounting_client import REPORT_TABLES, AccountingCalls, ReportTable
from microcred_intake.charts import ColumnChart, Point, RowChart, column_chart, row_chart
from microcred_intake.deps import accounting_as, intake_of
from microcred_intake.domain import InstitutionCreate
from microcred_intake.formats import Formats, month_start
from microcred_intake.pages import PageContext, context, see
from microcred_intake.review_pages import choose_institution, message
from microcred_shared.contracts.envelope import InstitutionId
from microcred_shared.http import ProblemError

router = APIRouter(include_in_schema=False)

#: The periods the page offers, in months; accounting takes any from 1 to 60.
PERIODS = (3, 6, 12, 24, 36, 60)
DEFAULT_MONTHS = 12
MAX_MONTHS = 60
#: Accounting's refusals, told in the user's language.
PROBLEMS: dict[int, str] = {
    HTTPStatus.FORBIDDEN: "You may not see this institution's report.",
    HTTPStatus.NOT_FOUND: "Accounting knows no such institution.",
}


@dataclass
class ReportContext:
    """The report page's context: the user's page, the institution, accounting as the user."""

    page: PageContext
    institution: InstitutionCreate
    accounting: AccountingCalls

    @property
    def formats(self) -> Formats:
        return Formats(self.page.translator.language)


async def report_context(request: Request, institution_id: str) -> ReportContext | Response:
    """The context, or the page that refuses it (log in first, forbidden, unknown)."""
    page = await context(request)
    if page.user is None:
        return see("/login")
    # Evaluators and administrators (who hold every role) of the institution, and the platform's.
    if not page.user.has_role(institution_id, "evaluator"):
        return message(
            page,
            HTTPStatus.FORBIDDEN,
            page._("Not allowed"),
            page._("Only the institution's evaluators and administrators see its report."),
        )
    institution = await intake_of(request).store.institution(institution_id)
    if institution is None:
        return message(
            page, HTTPStatus.NOT_FOUND, page._("Unknown institution"), institution_id, link=False
        )
    return ReportContext(page, institution, await accounting_as(request, page.user))


def months_of(params: Mapping[str, str]) -> int | None:
    """The period asked for, in months; None when it is not a whole number from 1 to 60."""
    typed = params.get("months", "").strip()
    if not typed:
        return DEFAULT_MONTHS
    if not typed.isdigit() or not 1 <= int(typed) <= MAX_MONTHS:
        return None
    return int(typed)


def _refusal(ctx: ReportContext, problem: ProblemError) -> Response:
    page = ctx.page
    known = PROBLEMS.get(problem.status)
    return message(
        page,
        problem.status,
        page._("Institution report"),
        page._(known) if known else f"{page._(problem.title)}: {problem.detail}",
    )


def _number(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return Decimal(0)


def month_charts(ctx: ReportContext, months: Sequence[Mapping[str, Any]]) -> list[ColumnChart]:
    """Awards per month, and net hours approved per month (reversals subtract)."""
    _, formats = ctx.page._, ctx.formats
    # The year under the first month labelled and where it changes: every label is unambiguous.
    years = [
        str(first.year) if first else ""
        for first in (month_start(str(m.get("month", ""))) for m in months)
    ]
    labels = [formats.month_short(str(m.get("month", ""))) for m in months]
    names = [formats.month(str(m.get("month", ""))) for m in months]
    span = {"first": names[0], "last": names[-1]} if names else {"first": "", "last": ""}

    awards = [_number(m.get("awards", 0)) for m in months]
    hours = [_number(m.get("hours_approved", 0)) for m in months]
    awards_points = [
        Point(label, name, value, formats.number(value))
        for label, name, value in zip(labels, names, awards, strict=True)
    ]
    hours_points = [
        Point(label, name, value, formats.number(value))
        for label, name, value in zip(labels, names, hours, strict=True)
    ]
    return [
        column_chart(
            _("Awards per month"),
            _(
                "Competences awarded each month from %(first)s to %(last)s: %(total)s in all. "
                "The figures are in the table “Month by month”.",
                total=formats.number(sum(awards, Decimal(0))),
                **span,
            ),
            awards_points,
            number=formats.number,
            integer=True,
            second_labels=years,
        ),
        column_chart(
            _("Net hours approved per month"),
            _(
                "Hours approved each month from %(first)s to %(last)s, less the hours of "
                "approvals reversed that month: %(total)s in all. The figures are in the table "
                "“Month by month”.",
                total=formats.number(sum(hours, Decimal(0))),
                **span,
            ),
            hours_points,
            number=formats.number,
            second_labels=years,
        ),
    ]


def competence_chart(ctx: ReportContext, competences: Sequence[Mapping[str, Any]]) -> RowChart:
    _, formats = ctx.page._, ctx.formats
    points = [
        Point(
            str(row.get("title") or row.get("competence_id", "")),
            str(row.get("title") or row.get("competence_id", "")),
            _number(row.get("awards", 0)),
            formats.number(row.get("awards", 0)),
        )
        for row in competences
    ]
    return row_chart(
        _("Awards per competence, to date"),
        _(
            "Awards of each of %(count)s competences to date, the most awarded first. The "
            "figures are in the table “Per competence, to date”.",
            count=len(points),
        ),
        points,
    )


@router.get("/review-report")
async def report_home(request: Request) -> Response:
    return await choose_institution(request, "report")


@router.get("/review/{institution_id}/report")
async def report(institution_id: InstitutionId, request: Request) -> Response:
    ctx = await report_context(request, institution_id)
    if isinstance(ctx, Response):
        return ctx
    page, formats = ctx.page, ctx.formats
    months = months_of(request.query_params)
    errors = []
    if months is None:
        errors.append(page._("Choose a period of 1 to 60 months."))
    asked = months or DEFAULT_MONTHS
    try:
        figures = await ctx.accounting.report(institution_id, asked)
    except ProblemError as exc:
        return _refusal(ctx, exc)
    totals: dict[str, Any] = figures.get("totals") or {}
    month_rows: list[dict[str, Any]] = figures.get("months") or []
    competences: list[dict[str, Any]] = sorted(
        figures.get("competences") or [],
        key=lambda row: (-_number(row.get("awards", 0)), str(row.get("title", ""))),
    )
    pathways: list[dict[str, Any]] = figures.get("pathways") or []
    csv = f"/review/{institution_id}/report.csv"
    return page.render(
        "pages/review_report.html.j2",
        HTTPStatus.UNPROCESSABLE_ENTITY if errors else HTTPStatus.OK,
        title=page._("Institution report"),
        institution=ctx.institution,
        section="report",
        is_admin=page.user is not None and page.user.has_role(institution_id, "institution_admin"),
        errors=errors,
        months=asked,
        periods=[(p, page._("Last %(count)s months", count=p)) for p in PERIODS],
        generated=formats.when(figures.get("generated_at")),
        totals={
            "hours_approved": formats.number(totals.get("hours_approved", 0)),
            "awards": formats.number(totals.get("awards", 0)),
            "awards_revoked": formats.number(totals.get("awards_revoked", 0)),
            "pathway_awards": formats.number(totals.get("pathway_awards", 0)),
            "learners": formats.number(totals.get("learners", 0)),
            "pending_evidence": formats.number(totals.get("pending_evidence", 0)),
            "pending_hours": formats.number(totals.get("pending_hours", 0)),
        },
        charts=month_charts(ctx, month_rows),
        competence_chart=competence_chart(ctx, competences) if competences else None,
        month_rows=[
            {
                "month": formats.month(str(row.get("month", ""))),
                "hours_approved": formats.number(row.get("hours_approved", 0)),
                "awards": formats.number(row.get("awards", 0)),
                "pathway_awards": formats.number(row.get("pathway_awards", 0)),
            }
            for row in reversed(month_rows)  # the newest first, as one reads a report
        ],
        competences=[
            {
                "title": row.get("title") or row.get("competence_id", ""),
                "competence_id": row.get("competence_id", ""),
                "hours_approved": formats.number(row.get("hours_approved", 0)),
                "awards": formats.number(row.get("awards", 0)),
                "learners": formats.number(row.get("learners", 0)),
                "pending_evidence": formats.number(row.get("pending_evidence", 0)),
            }
            for row in competences
        ],
        pathways=[
            {
                "title": row.get("title") or row.get("pathway_id", ""),
                "pathway_id": row.get("pathway_id", ""),
                "awards": formats.number(row.get("awards", 0)),
            }
            for row in pathways
        ],
        csv={table: f"{csv}?table={table}&months={asked}" for table in REPORT_TABLES},
    )


@router.get("/review/{institution_id}/report.csv")
async def report_csv(institution_id: InstitutionId, request: Request) -> Response:
    """Accounting's CSV of one of the report's tables, passed through for the browser."""
    ctx = await report_context(request, institution_id)
    if isinstance(ctx, Response):
        return ctx
    page = ctx.page
    table = request.query_params.get("table", "")
    months = months_of(request.query_params)
    if table not in REPORT_TABLES or months is None:
        return message(
            page,
            HTTPStatus.NOT_FOUND,
            page._("Institution report"),
            page._("The report has no such table or period."),
        )
    chosen: ReportTable = "competences" if table == "competences" else "months"
    try:
        download = await ctx.accounting.report_csv(institution_id, chosen, months)
    except ProblemError as exc:
        return _refusal(ctx, exc)
    return Response(
        download.content,
        media_type=download.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{download.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- accounting out of reach ------------------------------------------------------------------


async def accounting_unavailable(request: Request, _exc: Exception) -> Response:
    """Accounting cannot be reached: say so, with a way back to the page, not a traceback."""
    page = await context(request)
    path = request.url.path
    if request.url.query:
        path = f"{path}?{request.url.query}"
    response = page.render(
        "pages/message.html.j2",
        HTTPStatus.SERVICE_UNAVAILABLE,
        title=page._("Accounting is unavailable"),
        heading=page._("Accounting is unavailable"),
        message=page._(
            "The service that keeps the ledger and the awards cannot be reached just now. "
            "Wait a moment and try again."
        ),
        link=path,
        link_text=page._("Try again"),
    )
    response.headers["Retry-After"] = "10"
    return response
