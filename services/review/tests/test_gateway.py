"""The gateway: what the platform accepts from an institution's reviewer, on a real database.

Decisions arrive as an external reviewer would publish them; every refusal carries its reason
(the consumer sends it to the dead-letter topic) and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from microcred_review.domain import DecisionRequest, ReviewPolicy
from microcred_review.testing import Rig, rig
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import EvidenceWithdrawnV1, ReviewDecisionV1
from microcred_shared.testing.samples import submitted

pytestmark = pytest.mark.integration

A, B = "inst-a", "inst-b"


@pytest.fixture
async def review(database: AsyncDatabase[Any]) -> Rig:
    service = await rig(database)
    for institution in (A, B):
        await service.gateway.change_policy(institution, ReviewPolicy(mode="external"))
    await service.submit(submitted(tenant=A, evidence_id="ev-a"))
    await service.submit(submitted(tenant=B, evidence_id="ev-b"))
    return service


def answer(
    evidence: str = "ev-a",
    institution: str = A,
    decision: str = "approved",
    hours: str = "30",
    decision_id: str = "d-1",
) -> dict[str, Any]:
    payload = ReviewDecisionV1(
        decision_id=decision_id,
        evidence_id=evidence,
        learner_id="learner-1",
        institution_id=institution,
        decision=decision,  # type: ignore[arg-type]
        approved_hours=Decimal(hours),
        reason="" if decision in {"approved", "reversed"} else "Not enough detail.",
        reviewer_id="rules",
        decided_at=datetime.now(UTC),
    )
    envelope = Envelope.wrap(payload, source="/reviewer", subject=evidence, tenant=institution)
    return envelope.model_dump(mode="json")


async def test_an_external_decision_becomes_one_evidence_reviewed_event(review: Rig) -> None:
    assert await review.workspace.listing(A, 10) == []  # external: the workspace keeps out
    decision = answer()
    for _ in range(3):  # redelivered
        await review.deliver(topics.review_decisions(A), decision)

    [event] = review.reviewed()
    assert event["data"]["decision"] == "approved"
    assert event["data"]["evaluator_id"] == "rules"
    assert event["data"]["learner"]["email"] == "ada@example.org"  # from the case, not the answer
    assert review.refused == []


@pytest.mark.parametrize(
    ("topic_of", "decision", "reason"),
    [
        (B, answer(institution=A), "a decision of institution inst-a on the topic of inst-b"),
        (B, answer(institution=B), "inst-b was asked for no decision on evidence ev-a"),
        (A, answer(evidence="ev-x"), "inst-a was asked for no decision on evidence ev-x"),
        (A, answer(hours="31"), "approved_hours 31 exceed the 30 hours claimed"),
        (A, answer(decision="reversed", hours="0"), "only an approval can be reversed"),
    ],
    ids=["foreign topic", "foreign evidence", "unknown evidence", "too many hours", "reversal"],
)
async def test_refused_decisions_change_nothing(
    review: Rig, topic_of: str, decision: dict[str, Any], reason: str
) -> None:
    await review.deliver(topics.review_decisions(topic_of), decision)
    assert review.refused == [reason]
    assert review.reviewed() == []


async def test_a_decided_case_takes_a_reversal_but_no_second_decision(review: Rig) -> None:
    topic = topics.review_decisions(A)
    await review.deliver(topic, answer())
    await review.deliver(topic, answer(decision="rejected", hours="0", decision_id="d-2"))
    await review.deliver(topic, answer(decision="rejected", hours="0", decision_id="d-1"))
    await review.deliver(topic, answer(decision="reversed", hours="0", decision_id="d-3"))

    assert review.refused == [
        "evidence ev-a is already decided",
        "decision_id d-1 was already used for another decision",
    ]
    assert [e["data"]["decision"] for e in review.reviewed()] == ["approved", "reversed"]


async def test_a_decision_on_withdrawn_evidence_is_refused(review: Rig) -> None:
    withdrawn = EvidenceWithdrawnV1(
        evidence_id="ev-a", learner_id="learner-1", withdrawn_at=datetime.now(UTC)
    )
    await review.gateway.on_evidence_withdrawn(
        Envelope.wrap(withdrawn, source="/t", subject="ev-a", tenant=A)
    )
    await review.deliver(topics.review_decisions(A), answer())
    assert review.refused == ["the learner withdrew evidence ev-a"]
    assert review.reviewed() == []


async def test_the_workspace_learns_when_a_withdrawal_crossed_its_decision(
    database: AsyncDatabase[Any],
) -> None:
    review = await rig(database)
    await review.submit(submitted(tenant=A))
    await review.workspace.decide(A, "ev-1", DecisionRequest(decision="approve"), "eva")
    withdrawn = EvidenceWithdrawnV1(
        evidence_id="ev-1", learner_id="learner-1", withdrawn_at=datetime.now(UTC)
    )
    # The withdrawal reaches the gateway before the workspace's decision does.
    await review.gateway.on_evidence_withdrawn(
        Envelope.wrap(withdrawn, source="/t", subject="ev-1", tenant=A)
    )
    await review.pump()

    assert review.reviewed() == []
    item = await review.workspace.item(A, "ev-1")
    assert item is not None
    assert (item["status"], item["refusal"]) == ("refused", "the learner withdrew evidence ev-1")
    assert item["audit"][-1]["action"] == "refused"


async def test_a_change_of_mode_hands_open_evidence_to_the_new_reviewer(
    database: AsyncDatabase[Any],
) -> None:
    review = await rig(database)
    await review.submit(submitted(tenant=A, evidence_id="early"))
    assert [i["_id"] for i in await review.workspace.listing(A, 10)] == ["early"]

    await review.gateway.change_policy(A, ReviewPolicy(mode="external"))
    assert await review.workspace.listing(A, 10) == []
    assert [i["_id"] for i in await review.workspace.listing(A, 10, "handed_over")] == ["early"]
    await review.submit(submitted(tenant=A, evidence_id="while-external"))
    assert await review.workspace.item(A, "while-external") is None

    await review.gateway.change_policy(A, ReviewPolicy(mode="builtin"))
    back = {i["_id"] for i in await review.workspace.listing(A, 10)}
    assert back == {"early", "while-external"}
