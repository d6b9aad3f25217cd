"""The review conformance kit's verdicts on made-up answers, its report and its command."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from microcred_shared.cli import app
from microcred_shared.conformance.review import (
    Answer,
    KitOptions,
    PlannedRequest,
    answered_request,
    evaluate,
    plan_requests,
    render_report,
)
from microcred_shared.contracts import Envelope, parse_event
from microcred_shared.contracts.events import ReviewDecisionV1, ReviewRequestedV1
from microcred_shared.contracts.topics import (
    review_decisions,
    review_requests,
)

INSTITUTION = "inst-x"
OPTIONS = KitOptions(institution_id=INSTITUTION, deadline=5, requests=4, redelivered=2, foreign=2)


def decision(
    request: PlannedRequest,
    *,
    decision_id: str | None = None,
    tenant: str | None = None,
    verdict: str = "approved",
    hours: Decimal | None = None,
) -> bytes:
    evidence = request.envelope.data
    approved = evidence.hours if hours is None else hours
    payload = ReviewDecisionV1(
        decision_id=decision_id or f"d-{evidence.evidence_id}",
        evidence_id=evidence.evidence_id,
        learner_id=evidence.learner_id,
        institution_id=tenant or evidence.institution.id,
        decision=verdict,  # type: ignore[arg-type]
        approved_hours=approved if verdict == "approved" else Decimal(0),
        reason="" if verdict == "approved" else "not enough",
        reviewer_id="rules",
        decided_at=datetime.now(UTC),
    )
    return Envelope.wrap(
        payload, source="/tests", subject=evidence.evidence_id, tenant=tenant or INSTITUTION
    ).to_bytes()


def answer(
    request: PlannedRequest, value: bytes, *, key: bytes | None = None, after: float = 0.5
) -> Answer:
    return Answer(
        evidence_id=request.evidence_id,
        key=request.learner_id.encode() if key is None else key,
        value=value,
        after=after,
        partition=0,
        offset=0,
    )


def verdicts(answers: list[Answer], planned: list[PlannedRequest]) -> dict[str, bool]:
    return {c.name: c.passed for c in evaluate(OPTIONS, planned, answers, watched=5)}


def correct_answers(planned: list[PlannedRequest]) -> list[Answer]:
    answers = []
    for request in planned:
        if request.own:
            answers.append(answer(request, decision(request)))
        if request.kind == "redelivered":  # answered again, with the same decision id
            answers.append(answer(request, decision(request), after=1.0))
    return answers


pytestmark = pytest.mark.unit


def test_the_plan_has_own_redelivered_and_foreign_requests() -> None:
    planned = plan_requests(OPTIONS)
    kinds = [r.kind for r in planned]
    assert kinds.count("foreign") == 2
    assert kinds.count("redelivered") == 2
    assert kinds.count("own") == 2
    assert len({r.evidence_id for r in planned}) == len(planned)
    for request in planned:
        # Every generated request is a valid event; foreign ones belong to the other institution.
        parse_event(request.envelope.to_bytes(), ReviewRequestedV1)
        owner = INSTITUTION if request.own else "not-inst-x"
        assert request.envelope.tenant == owner
        assert request.envelope.data.institution.id == owner


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="at most requests"):
        KitOptions(institution_id="a", requests=1, redelivered=2)
    with pytest.raises(ValueError, match="must differ"):
        KitOptions(institution_id="a", foreign_institution="a")


def test_a_correct_reviewer_passes_every_check() -> None:
    planned = plan_requests(OPTIONS)
    assert verdicts(correct_answers(planned), planned) == {
        "schema": True,
        "keyed-by-learner": True,
        "answered-within-deadline": True,
        "idempotent-redelivery": True,
        "foreign-refused": True,
    }


def test_answers_are_matched_by_evidence_id_then_by_key() -> None:
    planned = plan_requests(OPTIONS)
    ids = {r.evidence_id for r in planned}
    learners = {r.learner_id: r.evidence_id for r in planned}
    request = planned[3]
    assert answered_request(None, decision(request), ids, learners) == request.evidence_id
    by_key = answered_request(request.learner_id.encode(), b"not json", ids, learners)
    assert by_key == request.evidence_id
    assert answered_request(b"someone-else", b"{}", ids, learners) is None


def test_a_new_decision_id_on_redelivery_fails_idempotency() -> None:
    planned = plan_requests(OPTIONS)
    answers = correct_answers(planned)
    redelivered = next(r for r in planned if r.kind == "redelivered")
    answers.append(answer(redelivered, decision(redelivered, decision_id="another-id")))
    checks = {c.name: c for c in evaluate(OPTIONS, planned, answers, watched=5)}
    assert not checks["idempotent-redelivery"].passed
    assert "2 decision ids" in checks["idempotent-redelivery"].problems[0]
    assert checks["schema"].passed


def test_a_different_decision_on_redelivery_fails_idempotency() -> None:
    planned = plan_requests(OPTIONS)
    answers = correct_answers(planned)
    redelivered = next(r for r in planned if r.kind == "redelivered")
    answers.append(answer(redelivered, decision(redelivered, verdict="rejected")))
    assert not verdicts(answers, planned)["idempotent-redelivery"]


def test_answering_foreign_evidence_fails() -> None:
    planned = plan_requests(OPTIONS)
    answers = correct_answers(planned)
    foreign = next(r for r in planned if r.kind == "foreign")
    answers.append(answer(foreign, decision(foreign, tenant="not-inst-x")))
    assert verdicts(answers, planned) == {
        "schema": True,
        "keyed-by-learner": True,
        "answered-within-deadline": True,
        "idempotent-redelivery": True,
        "foreign-refused": False,
    }


def test_wrong_tenant_hours_key_and_garbage_fail_schema_and_keys() -> None:
    planned = plan_requests(OPTIONS)
    own = [r for r in planned if r.own]
    answers = [
        answer(own[0], decision(own[0], hours=Decimal(1000))),
        answer(own[1], b"{not json"),
        answer(own[2], decision(own[2]), key=b"evidence-key"),
        answer(own[3], decision(own[3])),
    ]
    checks = {c.name: c for c in evaluate(OPTIONS, planned, answers, watched=5)}
    assert not checks["schema"].passed
    problems = " | ".join(checks["schema"].problems)
    assert "approves 1000 h" in problems
    assert "not JSON" in problems
    assert not checks["keyed-by-learner"].passed
    assert checks["answered-within-deadline"].passed


def test_late_and_missing_answers_fail_the_deadline() -> None:
    planned = plan_requests(OPTIONS)
    own = [r for r in planned if r.own]
    answers = [answer(own[0], decision(own[0]), after=9.0), answer(own[1], decision(own[1]))]
    check = next(
        c for c in evaluate(OPTIONS, planned, answers, 10) if c.name == "answered-within-deadline"
    )
    assert not check.passed
    assert check.summary.startswith("1/4 requests decided")
    assert len(check.problems) == 3


def test_silence_fails_what_cannot_be_judged() -> None:
    planned = plan_requests(OPTIONS)
    assert verdicts([], planned) == {
        "schema": False,
        "keyed-by-learner": False,
        "answered-within-deadline": False,
        "idempotent-redelivery": False,
        "foreign-refused": True,
    }


def test_the_report_reads_as_a_table() -> None:
    from microcred_shared.conformance.review import ConformanceReport  # noqa: PLC0415

    planned = plan_requests(OPTIONS)
    checks = evaluate(OPTIONS, planned, [], watched=5)
    report = ConformanceReport(
        institution_id=INSTITUTION,
        requests_topic=review_requests(INSTITUTION),
        decisions_topic=review_decisions(INSTITUTION),
        foreign_institution="not-inst-x",
        started_at=datetime.now(UTC),
        duration_seconds=5,
        deadline_seconds=5,
        requests=4,
        redelivered=2,
        foreign=2,
        answers=0,
        checks=checks,
        passed=False,
    )
    text = render_report(report)
    assert "answered-within-deadline  FAIL" in text
    assert "foreign-refused           pass" in text
    assert text.endswith(
        "4 of 5 checks failed: schema, keyed-by-learner, "
        "answered-within-deadline, idempotent-redelivery"
    )


def test_the_command_refuses_bad_options_with_exit_code_2() -> None:
    result = CliRunner().invoke(
        app, ["conformance", "review", "inst-x", "--requests", "1", "--redelivered", "2"]
    )
    assert result.exit_code == 2
    unreachable = CliRunner().invoke(
        app,
        [
            "conformance",
            "review",
            "inst-x",
            "--kafka-bootstrap-servers",
            "127.0.0.1:1",
            "--deadline",
            "1",
        ],
    )
    assert unreachable.exit_code == 2
    assert "could not run" in unreachable.output
