"""The short form of ``make chaos``: every fault once, three learners in flight each.

The platform runs on a stack of its own (Kafka, SecantusDB, SeaweedFS, the SMTP sink and the five
services, each a process this test owns), because the faults kill the servers themselves. See
``microcred_shared.testing.chaos`` for what each fault does and what is checked afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from microcred_shared.testing.chaos import FAULTS, run_chaos, table

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(900)
async def test_nothing_is_lost_or_duplicated_while_every_component_fails_in_turn(
    tmp_path: Path,
) -> None:
    result = await run_chaos(tmp_path / "stack", cohort=3)
    report = table(result)
    print(report)  # noqa: T201 - the table is the point of the run

    assert [row.fault for row in result.rows] == list(FAULTS)
    assert result.findings == [], report
    for row in result.rows:
        # A fault that found nothing under way would prove nothing.
        assert row.in_flight > 0, report
        assert row.recovered_at is not None, report
        assert (row.lost, row.duplicated) == (0, 0), report
    # Every learner's three uploads became one award, one credential and one claim e-mail.
    learners = 3 * len(FAULTS)
    assert result.counts == {
        "acknowledged": 3 * learners,
        "evidence": 3 * learners,
        "counted": 3 * learners,
        "awards": learners,
        "credentials": learners,
        "claim_emails": learners,
    }, report
