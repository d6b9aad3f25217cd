"""The ledger's read side: a learner's progress, and an institution's report (JSON and CSV).

Queries here; the arithmetic of the report is in pure functions below them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from microcred_accounting.awards import pathway_award_key
from microcred_accounting.domain import balance, ects_for, standing_approvals
from microcred_accounting.handlers import OPEN_EVIDENCE, Accounting, ledger_entry
from microcred_accounting.pathways import PathwayDefinition, component_key
from microcred_shared.contracts.events import CompetenceSnapshot
from microcred_shared.mongo import Document

ReportTable = Literal["competences", "months"]

CSV_COLUMNS: Mapping[ReportTable, tuple[str, ...]] = {
    "competences": (
        "competence_id",
        "title",
        "hours_approved",
        "awards",
        "learners",
        "pending_evidence",
    ),
    "months": ("month", "hours_approved", "awards", "pathway_awards"),
}


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _award_state(award: Document | None) -> dict[str, Any]:
    if award is None:
        status = "in_progress"
    else:
        status = "awarded" if award["status"] == "active" else "revoked"
    return {
        "status": status,
        "award_id": award["_id"] if award else None,
        "awarded_at": _iso(award["awarded_at"]) if award else None,
        "revoked_at": _iso(award.get("revoked_at")) if award else None,
        "revocation_reason": award.get("revocation_reason") if award else None,
    }


def _latest_by_key(awards: Iterable[Document]) -> dict[str, Document]:
    latest: dict[str, Document] = {}
    for award in awards:
        known = latest.get(award["component_key"])
        if known is None or award["generation"] > known["generation"]:
            latest[award["component_key"]] = award
    return latest


@dataclass
class ReadSide:
    accounting: Accounting

    async def progress(self, institution_id: str, learner_id: str) -> dict[str, Any]:
        """Per competence of the institution and per pathway it defined: where the learner is."""
        ledger = self.accounting.ledger.find(
            {"institution_id": institution_id, "learner_id": learner_id}
        )
        by_competence: dict[str, list[Document]] = {}
        async for document in ledger:
            by_competence.setdefault(document["competence_id"], []).append(document)
        awards = [d async for d in self.accounting.awards.find({"learner_id": learner_id})]
        latest = _latest_by_key(awards)
        titles = {d["component_key"]: d["title"] for d in awards if d["kind"] == "competence"}
        competences = []
        for competence_id in sorted(
            by_competence.keys()
            | {
                d["achievement_id"]
                for d in awards
                if d["kind"] == "competence" and d["institution_id"] == institution_id
            }
        ):
            documents = by_competence.get(competence_id, [])
            key = component_key(institution_id, competence_id)
            snapshot = _competence_of(documents, latest.get(key))
            hours = balance(ledger_entry(d) for d in documents)
            titles.setdefault(key, snapshot.title)
            competences.append(
                {
                    "competence_id": competence_id,
                    "title": snapshot.title,
                    "hours": str(hours),
                    "ects": str(ects_for(hours, snapshot)),
                    "hours_per_ects": str(snapshot.hours_per_ects),
                    "ects_required": str(snapshot.ects_required),
                    "hours_required": str(snapshot.hours_per_ects * snapshot.ects_required),
                    **_award_state(latest.get(key)),
                }
            )
        pathways = []
        # A partner's awards show only where the partner shares them with this institution.
        sharing = {institution_id} | await self.accounting.stacking.partners_sharing_with(
            institution_id
        )
        held = {
            k
            for k, d in latest.items()
            if d["kind"] == "competence"
            and d["status"] == "active"
            and d["institution_id"] in sharing
        }
        for pathway in await self.accounting.stacking.institution_pathways(institution_id):
            definition = PathwayDefinition.model_validate(pathway["definition"])
            components = [
                {
                    "institution_id": c.institution_id,
                    "competence_id": c.competence_id,
                    "title": titles.get(component_key(c.institution_id, c.competence_id))
                    if c.institution_id in sharing
                    else None,
                    "awarded": component_key(c.institution_id, c.competence_id) in held,
                }
                for c in definition.components
            ]
            pathways.append(
                {
                    "pathway_id": pathway["pathway_id"],
                    "title": definition.title,
                    "rule": definition.rule,
                    "required": definition.required_count,
                    "completed": sum(1 for c in components if c["awarded"]),
                    "components": components,
                    **_award_state(latest.get(pathway_award_key(pathway["_id"]))),
                }
            )
        return {
            "institution_id": institution_id,
            "learner_id": learner_id,
            "competences": competences,
            "pathways": pathways,
        }

    async def report(
        self, institution_id: str, months: int, now: datetime | None = None
    ) -> dict[str, Any]:
        """The institution's figures: hours approved, awards, pending evidence."""
        accounting = self.accounting
        ledger = [
            d
            async for d in accounting.ledger.find(
                {"institution_id": institution_id},
                {"outbox": 0},
            )
        ]
        awards = [
            d
            async for d in accounting.awards.find(
                {"institution_id": institution_id},
                {"kind": 1, "achievement_id": 1, "title": 1, "status": 1, "awarded_at": 1},
            )
        ]
        open_evidence = [
            d
            async for d in accounting.evidence.find(
                {"institution_id": institution_id, "status": {"$in": list(OPEN_EVIDENCE)}},
                {"competence_id": 1, "competence_title": 1, "hours": 1},
            )
        ]
        pathways = await accounting.stacking.institution_pathways(institution_id)
        return build_report(
            institution_id, ledger, awards, open_evidence, pathways, months, now or _now()
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _competence_of(documents: list[Document], award: Document | None) -> CompetenceSnapshot:
    """The competence's thresholds as its award (or else its latest decision) carried them."""
    if award is not None and "competence" in award:
        return CompetenceSnapshot.model_validate(award["competence"])
    newest = max(documents, key=lambda d: d["posted_at"])
    thresholds = {
        name: newest[name].to_decimal()
        for name in ("hours_per_ects", "ects_required")
        if name in newest
    }
    return CompetenceSnapshot(
        id=newest["competence_id"],
        title=str(newest.get("competence_title", newest["competence_id"])),
        **thresholds,
    )


def month_of(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def last_months(now: datetime, count: int) -> list[str]:
    """``count`` months ending with ``now``'s, oldest first."""
    index = now.year * 12 + now.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


def _competence_titles(*documents: Iterable[Document]) -> dict[str, str]:
    titles: dict[str, str] = {}
    for group in documents:
        for document in group:
            competence_id = document["competence_id"]
            titles.setdefault(competence_id, str(document.get("competence_title", competence_id)))
    return titles


def net_hours_by_month(ledger: list[Document]) -> dict[str, Decimal]:
    """Hours in the month each decision was taken: an approval adds, its reversal takes away.

    Whichever of the two was posted first, the pair cancels exactly, as balances do; a reversal
    whose approval is not posted yet takes nothing.
    """
    approvals = {d["evidence_id"]: d for d in ledger if d["kind"] == "approval"}
    by_month: dict[str, Decimal] = {}
    for document in ledger:
        approval = approvals.get(document["evidence_id"])
        if approval is None:
            continue
        hours = approval["hours"].to_decimal()
        month = month_of(document.get("decided_at") or document["posted_at"])
        by_month[month] = by_month.get(month, Decimal(0)) + (
            -hours if document["kind"] == "reversal" else hours
        )
    return by_month


def standing_hours_by_competence(ledger: list[Document]) -> dict[str, Decimal]:
    standing = {e.evidence_id for e in standing_approvals(ledger_entry(d) for d in ledger)}
    by_competence: dict[str, Decimal] = {}
    for document in ledger:
        if document["kind"] == "approval" and document["evidence_id"] in standing:
            competence = document["competence_id"]
            by_competence[competence] = (
                by_competence.get(competence, Decimal(0)) + document["hours"].to_decimal()
            )
    return by_competence


def _count(values: Iterable[Any]) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def build_report(
    institution_id: str,
    ledger: list[Document],
    awards: list[Document],
    open_evidence: list[Document],
    pathways: list[Document],
    months: int,
    now: datetime,
) -> dict[str, Any]:
    """The report's figures from the institution's documents (pure; exact decimals)."""
    titles = _competence_titles(ledger, open_evidence)
    for award in awards:
        if award["kind"] == "competence":
            titles.setdefault(award["achievement_id"], award["title"])
    hours_by_month = net_hours_by_month(ledger)
    hours_by_competence = standing_hours_by_competence(ledger)
    learners_by_competence: dict[str, set[str]] = {}
    for document in ledger:
        learners_by_competence.setdefault(document["competence_id"], set()).add(
            document["learner_id"]
        )
    awards_by_month = _count((a["kind"], month_of(a["awarded_at"])) for a in awards)
    awards_by_achievement = _count((a["kind"], a["achievement_id"]) for a in awards)
    pending_by_competence = _count(d["competence_id"] for d in open_evidence)
    competence_ids = sorted(
        hours_by_competence.keys()
        | learners_by_competence.keys()
        | {a["achievement_id"] for a in awards if a["kind"] == "competence"}
        | pending_by_competence.keys()
    )
    return {
        "institution_id": institution_id,
        "generated_at": now.isoformat(),
        "totals": {
            "hours_approved": str(sum(hours_by_competence.values(), Decimal(0))),
            "awards": sum(1 for a in awards if a["kind"] == "competence"),
            "awards_revoked": sum(1 for a in awards if a["status"] == "revoked"),
            "pathway_awards": sum(1 for a in awards if a["kind"] == "pathway"),
            "pending_evidence": len(open_evidence),
            "pending_hours": str(sum((d["hours"].to_decimal() for d in open_evidence), Decimal(0))),
            "learners": len({d["learner_id"] for d in ledger}),
        },
        "months": [
            {
                "month": month,
                "hours_approved": str(hours_by_month.get(month, Decimal(0))),
                "awards": awards_by_month.get(("competence", month), 0),
                "pathway_awards": awards_by_month.get(("pathway", month), 0),
            }
            for month in last_months(now, months)
        ],
        "competences": [
            {
                "competence_id": competence_id,
                "title": titles.get(competence_id, competence_id),
                "hours_approved": str(hours_by_competence.get(competence_id, Decimal(0))),
                "awards": awards_by_achievement.get(("competence", competence_id), 0),
                "learners": len(learners_by_competence.get(competence_id, set())),
                "pending_evidence": pending_by_competence.get(competence_id, 0),
            }
            for competence_id in competence_ids
        ],
        "pathways": [
            {
                "pathway_id": p["pathway_id"],
                "title": p["definition"]["title"],
                "awards": awards_by_achievement.get(("pathway", p["pathway_id"]), 0),
            }
            for p in pathways
        ],
    }


def report_csv(report: Mapping[str, Any], table: ReportTable) -> str:
    """One of the report's tables as CSV (RFC 4180, with a header row)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    columns = CSV_COLUMNS[table]
    writer.writerow(columns)
    for row in report[table]:
        writer.writerow([_csv_safe(row[c]) for c in columns])
    return buffer.getvalue()


def _csv_safe(value: Any) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (CSV injection)."""
    text = str(value)
    return (
        "'" + text
        if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text)
        else text
    )


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True
