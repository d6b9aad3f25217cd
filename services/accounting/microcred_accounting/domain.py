"""The hours→ECTS ledger's arithmetic, free of I/O and exact (decimals, never floats)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from microcred_shared.contracts.events import AwardedEvidence, CompetenceSnapshot

CENT = Decimal("0.01")


@dataclass(frozen=True)
class LedgerEntry:
    """One line of the ledger: an approval adds hours, a reversal takes them back.

    A reversal's own ``hours`` record what it took back when it was posted (0 if it came
    before its approval); balances never add them up (see ``standing_approvals``).
    """

    evidence_id: str
    kind: Literal["approval", "reversal"]
    hours: Decimal
    title: str
    provider: str
    start_date: date
    end_date: date

    @property
    def key(self) -> str:
        """The natural key: one approval and at most one reversal per evidence."""
        return ledger_key(self.evidence_id, self.kind)


def ledger_key(evidence_id: str, kind: str) -> str:
    return f"{evidence_id}:{kind}"


def standing_approvals(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    """The approvals no reversal has overturned, whichever of the two was posted first.

    A reversal may reach the ledger before the approval it overturns (the events travel apart
    and are redelivered); it cancels that approval whenever it arrives.
    """
    entries = list(entries)
    reversed_ids = {e.evidence_id for e in entries if e.kind == "reversal"}
    return [e for e in entries if e.kind == "approval" and e.evidence_id not in reversed_ids]


def balance(entries: Iterable[LedgerEntry]) -> Decimal:
    """Hours that count: the sum of the standing approvals."""
    return sum((e.hours for e in standing_approvals(entries)), Decimal(0))


def ects_for(hours: Decimal, competence: CompetenceSnapshot) -> Decimal:
    """ECTS earned by ``hours``, truncated to hundredths (never rounded up)."""
    return (hours / competence.hours_per_ects).quantize(CENT, rounding=ROUND_DOWN)


def threshold_reached(hours: Decimal, competence: CompetenceSnapshot) -> bool:
    # Compared in hours, so no division rounds a learner over or under the line.
    return hours >= competence.hours_per_ects * competence.ects_required


def counted_evidence(entries: Iterable[LedgerEntry]) -> list[AwardedEvidence]:
    """The approvals still standing (not reversed), oldest learning first."""
    standing = standing_approvals(entries)
    standing.sort(key=lambda e: (e.start_date, e.evidence_id))
    return [
        AwardedEvidence(
            evidence_id=e.evidence_id,
            title=e.title,
            provider=e.provider,
            hours=e.hours,
            start_date=e.start_date,
            end_date=e.end_date,
        )
        for e in standing
    ]


AwardStep = Literal["grant", "revoke"]


def next_award_step(current_status: str | None, over_threshold: bool) -> AwardStep | None:
    """What an award must do so that it matches the balance (``None``: it already does).

    ``current_status`` is the latest award's (``active`` or ``revoked``), or ``None`` if there
    was never one. A revoked award stays revoked; climbing back over the line grants a new one.
    """
    active = current_status == "active"
    if over_threshold and not active:
        return "grant"
    if active and not over_threshold:
        return "revoke"
    return None


def hours_text(hours: Decimal) -> str:
    """Hours as people write them: ``30``, ``12.5``; never ``30.00`` or ``3E+1``."""
    return f"{hours.normalize():f}"


def competence_revocation_reason(
    balance_hours: Decimal,
    competence: CompetenceSnapshot,
    reversed_entry: LedgerEntry | None,
    reversal_reason: str,
) -> str:
    """Why a competence award was revoked, in words a learner understands."""
    required = competence.hours_per_ects * competence.ects_required
    fell = (
        f"the approved hours fell to {hours_text(balance_hours)} of the "
        f"{hours_text(required)} required for {competence.title}."
    )
    if reversed_entry is None:
        return f"An approval was reversed and {fell}"
    because = f" ({reversal_reason.strip()})" if reversal_reason.strip() else ""
    return (
        f"The approval of '{reversed_entry.title}' ({hours_text(reversed_entry.hours)} hours) "
        f"was reversed{because}, and {fell}"
    )


def pathway_revocation_reason(
    title: str, lost: Iterable[str], completed: int, required: int
) -> str:
    lost_titles = ", ".join(f"'{t}'" for t in lost) or "a credential it stacked"
    return (
        f"The pathway '{title}' lost {lost_titles}: {completed} of the {required} "
        "required credentials remain."
    )
