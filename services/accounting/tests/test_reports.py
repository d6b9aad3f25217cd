"""The institution's report: figures from the ledger, per month and per competence, and CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from microcred_accounting.handlers import Accounting
from microcred_accounting.reports import ReadSide, last_months, net_hours_by_month, report_csv
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.events import EvidenceWithdrawnV1
from services.accounting.tests.ledger_samples import TENANT, filed, post, reviewed


@pytest.mark.unit
def test_last_months_run_across_the_year_boundary() -> None:
    assert last_months(datetime(2026, 2, 14, tzinfo=UTC), 4) == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
    ]


@pytest.mark.unit
def test_a_reversal_takes_its_hours_back_in_its_own_month() -> None:
    def entry(kind: str, evidence: str, hours: str, month: int) -> dict[str, Any]:
        return {
            "kind": kind,
            "evidence_id": evidence,
            "hours": _Decimal128(hours),
            "decided_at": datetime(2026, month, 5, tzinfo=UTC),
        }

    ledger = [
        entry("approval", "e1", "30", 1),
        entry("approval", "e2", "12.5", 1),
        entry("reversal", "e1", "0", 3),  # posted before its approval: records nothing taken
        entry("reversal", "orphan", "0", 3),  # its approval never came: takes nothing
    ]
    assert net_hours_by_month(ledger) == {"2026-01": Decimal("42.5"), "2026-03": Decimal(-30)}


class _Decimal128:
    """The ledger's stored hours, as PyMongo hands them back."""

    def __init__(self, text: str) -> None:
        self._value = Decimal(text)

    def to_decimal(self) -> Decimal:
        return self._value


@pytest.mark.unit
def test_csv_cells_never_become_spreadsheet_formulas() -> None:
    figures = {
        "competences": [
            {
                "competence_id": "c-1",
                "title": '=HYPERLINK("http://evil")',
                "hours_approved": "-30",
                "awards": 0,
                "learners": 1,
                "pending_evidence": 0,
            }
        ]
    }
    [header, row] = list(csv.reader(io.StringIO(report_csv(figures, "competences"))))
    assert header == [
        "competence_id",
        "title",
        "hours_approved",
        "awards",
        "learners",
        "pending_evidence",
    ]
    assert row[1] == '\'=HYPERLINK("http://evil")'
    assert row[2] == "-30"  # a negative number stays a number


@pytest.mark.integration
async def test_the_report_counts_hours_awards_and_what_still_waits(
    accounting: Accounting,
) -> None:
    for n in range(3):
        await post(accounting, reviewed(f"a{n}", learner="l-1"))
    await post(accounting, reviewed("b0", hours="12.5", learner="l-2", competence="c-2"))
    await post(accounting, reviewed("b1", hours="10", decision="rejected", learner="l-2"))
    await post(accounting, reviewed("x0", learner="l-3"))
    await accounting.on_evidence_reviewed(reviewed("x0", decision="reversed", learner="l-3"))
    for waiting in ("w0", "w1"):
        await accounting.on_evidence_submitted(filed(reviewed(waiting, hours="8", learner="l-2")))
    withdrawn = reviewed("w2", learner="l-2")
    await accounting.on_evidence_submitted(filed(withdrawn))
    await accounting.on_evidence_withdrawn(
        Envelope.wrap(
            EvidenceWithdrawnV1(evidence_id="w2", learner_id="l-2", withdrawn_at=datetime.now(UTC)),
            source="/tests",
            subject="w2",
            tenant=TENANT,
        )
    )
    # Another institution's figures never enter this one's report.
    await post(accounting, reviewed("o0", tenant="inst-z", learner="l-9"))

    now = datetime.now(UTC)
    report = await ReadSide(accounting).report(TENANT, months=3, now=now)

    assert report["totals"] == {
        "hours_approved": "102.5",
        "awards": 1,
        "awards_revoked": 0,
        "pathway_awards": 0,
        "pending_evidence": 2,
        "pending_hours": "16",
        "learners": 3,
    }
    [*earlier, this_month] = report["months"]
    assert [m["month"] for m in earlier] == last_months(now, 3)[:2]
    assert all(m["hours_approved"] == "0" and m["awards"] == 0 for m in earlier)
    # The reversal took its 30 hours back in the same month as its approval.
    assert this_month["hours_approved"] == "102.5"
    assert this_month["awards"] == 1
    by_competence = {c["competence_id"]: c for c in report["competences"]}
    assert by_competence["c-1"] == {
        "competence_id": "c-1",
        "title": "Competence c-1",
        "hours_approved": "90",
        "awards": 1,
        "learners": 2,  # with approved (or reversed) hours; l-2's was rejected
        "pending_evidence": 2,
    }
    assert by_competence["c-2"]["hours_approved"] == "12.5"

    rows = list(csv.DictReader(io.StringIO(report_csv(report, "months"))))
    assert [r["month"] for r in rows] == last_months(now, 3)
    assert rows[-1]["hours_approved"] == "102.5"


@pytest.mark.unit
def test_months_are_counted_back_from_now() -> None:
    now = datetime(2026, 1, 31, tzinfo=UTC)
    assert last_months(now + timedelta(days=1), 1) == ["2026-02"]


@pytest.mark.integration
async def test_a_withdrawal_read_before_its_evidence_still_withdraws_it(
    accounting: Accounting,
) -> None:
    evidence = reviewed("w-early", hours="8", learner="l-2")
    await accounting.on_evidence_withdrawn(
        Envelope.wrap(
            EvidenceWithdrawnV1(
                evidence_id="w-early", learner_id="l-2", withdrawn_at=datetime.now(UTC)
            ),
            source="/tests",
            subject="w-early",
            tenant=TENANT,
        )
    )
    await accounting.on_evidence_submitted(filed(evidence))
    await accounting.on_evidence_submitted(filed(evidence))  # redelivered

    report = await ReadSide(accounting).report(TENANT, months=1)
    assert report["totals"]["pending_evidence"] == 0
    stored = await accounting.evidence.find_one({"_id": "w-early"})
    assert (stored["status"], stored["learner_id"]) == ("withdrawn", "l-2")
