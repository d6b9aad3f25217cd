"""The ledger's arithmetic: exact, per-competence thresholds, reversals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from microcred_accounting.domain import (
    LedgerEntry,
    balance,
    counted_evidence,
    ects_for,
    threshold_reached,
)
from microcred_shared.contracts.events import CompetenceSnapshot

pytestmark = pytest.mark.unit

DEFAULT = CompetenceSnapshot(id="c", title="C")


def entry(evidence: str, hours: str, kind: str = "approval") -> LedgerEntry:
    return LedgerEntry(
        evidence_id=evidence,
        kind=kind,  # type: ignore[arg-type]
        hours=Decimal(hours),
        title=evidence,
        provider="p",
        start_date=date(2026, 1, int(evidence[-1])),
        end_date=date(2026, 2, 1),
    )


def test_defaults_are_30_hours_per_ects_and_3_ects() -> None:
    assert not threshold_reached(Decimal("89.99"), DEFAULT)
    assert threshold_reached(Decimal(90), DEFAULT)
    assert ects_for(Decimal(90), DEFAULT) == Decimal("3.00")


def test_arithmetic_is_exact() -> None:
    # 0.1 + 0.2 hours thirty times over in floats would not reach 9 exactly.
    entries = [entry(f"e{i % 9 + 1}", "0.1") for i in range(30)] + [
        entry(f"e{i % 9 + 1}", "0.2") for i in range(30)
    ]
    assert balance(entries) == Decimal(9)
    assert ects_for(Decimal(100), DEFAULT) == Decimal("3.33")  # truncated, never rounded up


def test_thresholds_are_per_competence() -> None:
    short = CompetenceSnapshot(
        id="s", title="S", hours_per_ects=Decimal(25), ects_required=Decimal(2)
    )
    assert threshold_reached(Decimal(50), short)
    assert not threshold_reached(Decimal(50), DEFAULT)
    assert ects_for(Decimal(50), short) == Decimal("2.00")


def test_a_reversal_takes_the_hours_and_the_evidence_back() -> None:
    entries = [entry("e1", "30"), entry("e2", "30"), entry("e1", "-30", "reversal")]
    assert balance(entries) == Decimal(30)
    assert [e.evidence_id for e in counted_evidence(entries)] == ["e2"]
