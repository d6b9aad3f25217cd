"""The learner's dashboard, computed from what intake knows; pure functions."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from microcred_intake.domain import InstitutionCreate

CENT = Decimal("0.01")
PENDING = {"submitted"}


class Badge(BaseModel):
    model_config = ConfigDict(frozen=True)

    credential_id: str
    title: str
    issued_at: str


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
    badges: tuple[Badge, ...] = ()


def progress(
    institution: InstitutionCreate,
    evidence: Iterable[dict[str, Any]],
    badges: Iterable[dict[str, Any]],
) -> list[CompetenceProgress]:
    """Per competence with evidence or a badge: approved and pending hours, ECTS, progress."""
    approved: dict[str, Decimal] = {}
    pending: dict[str, Decimal] = {}
    for record in evidence:
        competence = record["competence_id"]
        if record["status"] == "approved":
            hours = Decimal(record.get("review", {}).get("approved_hours", "0"))
            approved[competence] = approved.get(competence, Decimal(0)) + hours
        elif record["status"] in PENDING:
            pending[competence] = pending.get(competence, Decimal(0)) + Decimal(record["hours"])
    earned: dict[str, list[Badge]] = {}
    for badge in badges:
        earned.setdefault(badge["competence_id"], []).append(
            Badge(
                credential_id=badge["_id"],
                title=badge["title"],
                issued_at=badge["issued_at"].date().isoformat(),
            )
        )
    rows = []
    for competence in institution.competences:
        if competence.id not in approved.keys() | pending.keys() | earned.keys():
            continue
        done = approved.get(competence.id, Decimal(0))
        threshold = competence.hours_per_ects * competence.ects_required
        rows.append(
            CompetenceProgress(
                competence_id=competence.id,
                title=competence.title,
                approved_hours=done,
                pending_hours=pending.get(competence.id, Decimal(0)),
                approved_ects=(done / competence.hours_per_ects).quantize(CENT, ROUND_DOWN),
                ects_required=competence.ects_required,
                hours_required=threshold,
                percent=min(100, int(done * 100 / threshold)),
                badges=tuple(earned.get(competence.id, [])),
            )
        )
    return rows
