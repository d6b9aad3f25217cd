"""The learner's dashboard: accounting's ledger merged with what intake knows.

Accounting owns the ledger, the awards and the pathways, so approved hours, ECTS, thresholds and
award statuses come from its progress API when it answers. Pending hours (evidence awaiting a
decision) and badges are intake's own records. When accounting cannot be reached, the dashboard
is computed from intake's records alone (approved evidence, awards and revocations it was told
of) and says so. ``dashboard`` computes it (a pure function); ``load`` gathers what it needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from microcred_intake.accounting_client import AccountingCalls, AccountingUnavailableError
from microcred_intake.domain import InstitutionCreate
from microcred_intake.store import IntakeStore
from microcred_shared.contracts.events import CompetenceSnapshot
from microcred_shared.http import ProblemError
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document

log = get_logger(__name__)

CENT = Decimal("0.01")
PENDING = {"submitted"}

AwardStatus = Literal["in_progress", "awarded", "revoked"]
#: Where approved hours and award statuses came from: accounting's ledger, or intake's records
#: alone (accounting could not be reached).
LedgerSource = Literal["accounting", "intake"]


class Badge(BaseModel):
    model_config = ConfigDict(frozen=True)

    credential_id: str
    title: str
    issued_at: str
    award_id: str | None = None
    revoked: bool = False
    revoked_at: datetime | None = None
    revocation_reason: str | None = None


class CompetenceProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    competence_id: str
    title: str
    approved_hours: Decimal
    pending_hours: Decimal
    approved_ects: Decimal
    ects_required: Decimal
    hours_required: Decimal
    percent: int
    status: AwardStatus = "in_progress"
    award_id: str | None = None
    awarded_at: datetime | None = None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    badges: tuple[Badge, ...] = ()


class PathwayComponentProgress(BaseModel):
    model_config = ConfigDict(frozen=True)

    institution_id: str
    competence_id: str
    title: str | None
    awarded: bool


class PathwayProgress(BaseModel):
    """A pathway of the institution; rule and components are unknown without accounting."""

    model_config = ConfigDict(frozen=True)

    pathway_id: str
    title: str
    rule: Literal["all_of", "n_of"] | None = None
    required: int | None = None
    completed: int | None = None
    components: tuple[PathwayComponentProgress, ...] = ()
    status: AwardStatus = "in_progress"
    award_id: str | None = None
    awarded_at: datetime | None = None
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    badges: tuple[Badge, ...] = ()


class Dashboard(BaseModel):
    model_config = ConfigDict(frozen=True)

    institution_id: str
    ledger: LedgerSource
    competences: list[CompetenceProgress]
    pathways: list[PathwayProgress]


@dataclass(frozen=True)
class LearnerRecords:
    """What intake itself keeps about one learner at one institution."""

    evidence: list[Document]
    badges: list[Document]
    revocations: list[Document] = field(default_factory=list)


@dataclass(frozen=True)
class _Revocations:
    awards: dict[str, Document]
    credentials: dict[str, Document]

    @classmethod
    def of(cls, revocations: Iterable[Document]) -> _Revocations:
        awards, credentials = {}, {}
        for revocation in revocations:
            if "credential_id" in revocation:
                credentials[revocation["credential_id"]] = revocation
            elif "award_id" in revocation:
                awards[revocation["award_id"]] = revocation
        return cls(awards, credentials)

    def of_badge(self, badge: Document) -> Document | None:
        """The badge's own revocation, else its award's.

        A revoked award's badge is not valid even before the issuer has revoked the credential.
        """
        return self.credentials.get(badge["_id"]) or self.awards.get(badge.get("award_id") or "")

    def latest_of(self, kind: str, achievement_id: str) -> Document | None:
        found = [
            r
            for r in self.awards.values()
            if r.get("award_kind") == kind and r.get("achievement_id") == achievement_id
        ]
        return max(found, key=lambda r: r["revoked_at"]) if found else None


def _decimal(value: Any, default: Decimal = Decimal(0)) -> Decimal:
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        return default
    return parsed if parsed.is_finite() else default


def _percent(done: Decimal, threshold: Decimal) -> int:
    if threshold <= 0:
        return 100
    return max(0, min(100, int(done * 100 / threshold)))


def _badges(documents: Iterable[Document], revocations: _Revocations) -> tuple[Badge, ...]:
    badges = []
    # Oldest first; a record without a title is no credential intake was told of.
    for document in sorted(documents, key=lambda d: d["issued_at"]):
        revoked = revocations.of_badge(document)
        badges.append(
            Badge(
                credential_id=document["_id"],
                title=document["title"],
                issued_at=document["issued_at"].date().isoformat(),
                award_id=document.get("award_id"),
                revoked=revoked is not None,
                revoked_at=revoked["revoked_at"] if revoked else None,
                revocation_reason=revoked["reason"] if revoked else None,
            )
        )
    return tuple(badges)


@dataclass
class _Local:
    """Intake's own view of a competence or a pathway: its awards and their revocations."""

    award_ids: set[str] = field(default_factory=set)

    def status(self, revocations: _Revocations, kind: str, achievement_id: str) -> dict[str, Any]:
        valid = sorted(a for a in self.award_ids if a not in revocations.awards)
        if valid:
            return {"status": "awarded", "award_id": valid[-1]}
        revoked = revocations.latest_of(kind, achievement_id)
        if revoked is None:
            return {"status": "in_progress"}
        return {
            "status": "revoked",
            "award_id": revoked["award_id"],
            "revoked_at": revoked["revoked_at"],
            "revocation_reason": revoked["reason"],
        }


@dataclass
class _Sorted:
    """Intake's records of one learner, sorted per competence and per pathway."""

    approved: dict[str, Decimal] = field(default_factory=dict)
    pending: dict[str, Decimal] = field(default_factory=dict)
    competence_local: dict[str, _Local] = field(default_factory=dict)
    pathway_local: dict[str, _Local] = field(default_factory=dict)
    competence_badges: dict[str, list[Document]] = field(default_factory=dict)
    pathway_badges: dict[str, list[Document]] = field(default_factory=dict)

    def add_evidence(self, record: Document) -> None:
        competence = record["competence_id"]
        if record["status"] == "approved":
            hours = _decimal(record.get("review", {}).get("approved_hours", "0"))
            self.approved[competence] = self.approved.get(competence, Decimal(0)) + hours
        elif record["status"] in PENDING:
            hours = _decimal(record["hours"])
            self.pending[competence] = self.pending.get(competence, Decimal(0)) + hours
        if record.get("award_id"):
            self.competence_local.setdefault(competence, _Local()).award_ids.add(record["award_id"])

    def add_badge(self, badge: Document) -> None:
        """A badge under its competence or its pathway, as the issuer marked its credential.

        A badge kept before intake stored the kind counts as a competence's.
        """
        achievement = str(badge.get("competence_id") or "")
        pathway = badge.get("kind") == "pathway"
        kept = self.pathway_badges if pathway else self.competence_badges
        kept.setdefault(achievement, []).append(badge)
        if badge.get("award_id"):
            local = self.pathway_local if pathway else self.competence_local
            local.setdefault(achievement, _Local()).award_ids.add(badge["award_id"])


def dashboard(
    institution: InstitutionCreate,
    records: LearnerRecords,
    ledger: Mapping[str, Any] | None,
) -> Dashboard:
    """Per competence and per pathway: hours, ECTS, progress, awards, revocations, badges.

    ``ledger`` is accounting's progress answer, or None when accounting could not be reached.
    """
    revocations = _Revocations.of(records.revocations)
    ledger_competences = {
        row["competence_id"]: row for row in (ledger or {}).get("competences", [])
    }
    ledger_pathways = {row["pathway_id"]: row for row in (ledger or {}).get("pathways", [])}
    catalogue = {c.id: c for c in institution.competences}
    mine = _Sorted()
    for record in records.evidence:
        mine.add_evidence(record)
    for badge in records.badges:
        if not badge.get("title") or not badge.get("issued_at"):
            continue  # no credential intake was told of
        mine.add_badge(badge)

    revoked_competences = {
        r["achievement_id"] for r in revocations.awards.values() if r["award_kind"] == "competence"
    }
    shown = (
        ledger_competences.keys()
        | mine.approved.keys()
        | mine.pending.keys()
        | mine.competence_badges.keys()
        | revoked_competences
    )
    order = [c for c in catalogue if c in shown] + sorted(shown - catalogue.keys())
    competences = [
        _competence(
            competence_id,
            catalogue.get(competence_id),
            ledger_competences.get(competence_id),
            mine,
            revocations,
        )
        for competence_id in order
    ]
    pathways = [
        _ledger_pathway(row, institution, catalogue, mine.pathway_badges, revocations)
        for row in ledger_pathways.values()
    ]
    pathways += _pathways_known_locally(mine, revocations, ledger_pathways.keys())
    return Dashboard(
        institution_id=institution.id,
        ledger="accounting" if ledger is not None else "intake",
        competences=competences,
        pathways=pathways,
    )


def _competence(
    competence_id: str,
    known: CompetenceSnapshot | None,
    row: Mapping[str, Any] | None,
    mine: _Sorted,
    revocations: _Revocations,
) -> CompetenceProgress:
    title = known.title if known else str((row or {}).get("title") or competence_id)
    badges = _badges(mine.competence_badges.get(competence_id, []), revocations)
    pending = mine.pending.get(competence_id, Decimal(0))
    if row is not None:
        hours = _decimal(row.get("hours"))
        threshold = _decimal(row.get("hours_required"))
        return CompetenceProgress(
            competence_id=competence_id,
            title=title,
            approved_hours=hours,
            pending_hours=pending,
            approved_ects=_decimal(row.get("ects")),
            ects_required=_decimal(row.get("ects_required")),
            hours_required=threshold,
            percent=_percent(hours, threshold),
            status=row.get("status") or "in_progress",
            award_id=row.get("award_id"),
            awarded_at=row.get("awarded_at"),
            revoked_at=row.get("revoked_at"),
            revocation_reason=row.get("revocation_reason"),
            badges=badges,
        )
    # Not on accounting's ledger (yet), or accounting is out of reach: intake's records, with
    # the platform's defaults for a competence no longer in the catalogue.
    hours = mine.approved.get(competence_id, Decimal(0))
    per_ects = known.hours_per_ects if known else Decimal(30)
    ects_required = known.ects_required if known else Decimal(3)
    threshold = per_ects * ects_required
    return CompetenceProgress(
        competence_id=competence_id,
        title=title,
        approved_hours=hours,
        pending_hours=pending,
        approved_ects=(hours / per_ects).quantize(CENT, ROUND_DOWN),
        ects_required=ects_required,
        hours_required=threshold,
        percent=_percent(hours, threshold),
        badges=badges,
        **mine.competence_local.get(competence_id, _Local()).status(
            revocations, "competence", competence_id
        ),
    )


def _pathways_known_locally(
    mine: _Sorted, revocations: _Revocations, reported: Iterable[str]
) -> list[PathwayProgress]:
    """Pathways intake has badges or revocations of that accounting did not report.

    Accounting is out of reach then: the rule and the components are unknown.
    """
    revoked = {
        r["achievement_id"]: r for r in revocations.awards.values() if r["award_kind"] == "pathway"
    }
    pathways = []
    for pathway_id in sorted((mine.pathway_badges.keys() | revoked.keys()) - set(reported)):
        documents = mine.pathway_badges.get(pathway_id, [])
        title = documents[-1]["title"] if documents else revoked[pathway_id]["title"]
        pathways.append(
            PathwayProgress(
                pathway_id=pathway_id,
                title=title,
                badges=_badges(documents, revocations),
                **mine.pathway_local.get(pathway_id, _Local()).status(
                    revocations, "pathway", pathway_id
                ),
            )
        )
    return pathways


def _ledger_pathway(
    row: Mapping[str, Any],
    institution: InstitutionCreate,
    catalogue: Mapping[str, Any],
    pathway_badges: Mapping[str, list[Document]],
    revocations: _Revocations,
) -> PathwayProgress:
    components = []
    for component in row.get("components", []):
        title = component.get("title")
        if title is None and component.get("institution_id") == institution.id:
            known = catalogue.get(component.get("competence_id"))
            title = known.title if known else None
        components.append(
            PathwayComponentProgress(
                institution_id=component["institution_id"],
                competence_id=component["competence_id"],
                title=title,
                awarded=bool(component.get("awarded")),
            )
        )
    return PathwayProgress(
        pathway_id=row["pathway_id"],
        title=row.get("title") or row["pathway_id"],
        rule=row.get("rule"),
        required=row.get("required"),
        completed=row.get("completed"),
        components=tuple(components),
        status=row.get("status") or "in_progress",
        award_id=row.get("award_id"),
        awarded_at=row.get("awarded_at"),
        revoked_at=row.get("revoked_at"),
        revocation_reason=row.get("revocation_reason"),
        badges=_badges(pathway_badges.get(row["pathway_id"], []), revocations),
    )


async def load(
    store: IntakeStore,
    accounting: AccountingCalls,
    institution: InstitutionCreate,
    learner_id: str,
) -> Dashboard:
    """The learner's dashboard; from intake's records alone if accounting does not answer."""

    async def ledger() -> dict[str, Any] | None:
        try:
            return await accounting.progress(institution.id, learner_id)
        except (AccountingUnavailableError, ProblemError) as exc:
            # Accounting refusing (it does not know the learner's role yet, say) is no reason
            # to refuse the learner their own records.
            log.warning("dashboard.without_ledger", institution=institution.id, error=str(exc))
            return None

    evidence, badges, revocations, progress = await asyncio.gather(
        store.evidence_of(institution.id, learner_id),
        store.badges_of(institution.id, learner_id),
        store.revocations_of(institution.id, learner_id),
        ledger(),
    )
    return dashboard(institution, LearnerRecords(evidence, badges, revocations), progress)
