"""The event contracts: envelope, validation with reasons, tenancy, deterministic ids."""

from __future__ import annotations

import json
import re

import pytest

from microcred_shared.contracts import (
    Envelope,
    InvalidEventError,
    deterministic_event_id,
    parse_event,
    topics,
)
from microcred_shared.contracts.events import (
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    ReviewDecisionV1,
)
from microcred_shared.contracts.registry import PAYLOADS
from microcred_shared.testing.samples import submitted

pytestmark = pytest.mark.unit


def test_envelope_round_trips_with_cloudevents_attributes() -> None:
    event = submitted()
    document = json.loads(event.to_bytes())
    assert {"specversion", "id", "source", "type", "time", "subject", "tenant", "data"} <= set(
        document
    )
    assert document["type"] == "eu.microcred.evidence.submitted.v1"
    assert document["data"]["hours"] == "30"  # decimals travel as strings, never floats
    assert parse_event(event.to_bytes(), EvidenceSubmittedV1) == event


def test_key_is_the_learner() -> None:
    assert submitted(learner="learner-42").key() == b"learner-42"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"type": "eu.microcred.evidence.reviewed.v1"}', "does not belong on this topic"),
        (b'{"type": "eu.microcred.evidence.submitted.v1"}', "id: Field required"),
    ],
)
def test_invalid_records_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidEventError) as refused:
        parse_event(raw, EvidenceSubmittedV1)
    assert reason in refused.value.reason


def test_tenant_must_own_the_payload() -> None:
    document = json.loads(submitted(tenant="inst-a").to_bytes())
    document["tenant"] = "inst-b"
    with pytest.raises(InvalidEventError, match="differs from the payload's institution"):
        parse_event(json.dumps(document).encode(), EvidenceSubmittedV1)


def test_hours_must_be_positive() -> None:
    document = json.loads(submitted().to_bytes())
    document["data"]["hours"] = "0"
    with pytest.raises(InvalidEventError, match="hours"):
        parse_event(json.dumps(document).encode(), EvidenceSubmittedV1)


def test_reviewed_hours_must_fit_the_decision() -> None:
    base = json.loads(submitted().to_bytes())["data"]
    reviewed = {
        "decision_id": "d-1",
        "evidence_id": "ev-1",
        "learner_id": base["learner_id"],
        "learner": base["learner"],
        "institution": base["institution"],
        "competence": base["competence"],
        "evidence_title": "Course",
        "evidence_provider": "Provider",
        "start_date": "2026-01-01",
        "end_date": "2026-01-31",
        "decision": "approved",
        "claimed_hours": "30",
        "approved_hours": "31",
        "evaluator_id": "e-1",
        "decided_at": "2026-02-02T00:00:00Z",
    }
    with pytest.raises(ValueError, match="at most claimed_hours"):
        EvidenceReviewedV1.model_validate(reviewed)
    reviewed.update(decision="rejected", approved_hours="5")
    with pytest.raises(ValueError, match="must be 0 for a rejected decision"):
        EvidenceReviewedV1.model_validate(reviewed)


def test_every_payload_has_its_own_versioned_type_and_topic() -> None:
    assert len({p.event_type for p in PAYLOADS}) == len(PAYLOADS)
    shared_topics = {p.topic for p in PAYLOADS if not p.per_institution()}
    assert shared_topics == set(topics.ALL)
    assert {p.topic for p in PAYLOADS if p.per_institution()} == {
        topics.REVIEW_REQUESTS,
        topics.REVIEW_DECISIONS,
    }
    assert all(p.event_type.endswith(".v1") and p.topic.endswith(".v1") for p in PAYLOADS)
    assert all(p.__name__.endswith("V1") for p in PAYLOADS)


def test_deterministic_event_ids_name_the_effect() -> None:
    assert deterministic_event_id("award", "a") == deterministic_event_id("award", "a")
    assert deterministic_event_id("award", "a") != deterministic_event_id("award", "b")


def test_review_contract_topics_belong_to_one_institution_each() -> None:
    requests, decisions = topics.review_requests("uni-a"), topics.review_decisions("uni-a")
    assert (requests, decisions) == (
        "microcred.review.uni-a.requests.v1",
        "microcred.review.uni-a.decisions.v1",
    )
    assert re.match(topics.REVIEW_REQUESTS_PATTERN, requests)
    assert not re.match(topics.REVIEW_REQUESTS_PATTERN, decisions)
    assert re.match(topics.REVIEW_DECISIONS_PATTERN, decisions)
    assert not re.match(topics.REVIEW_DECISIONS_PATTERN, topics.dead_letter(decisions))
    assert topics.institution_of_review_topic(decisions) == "uni-a"
    assert topics.institution_of_review_topic(topics.EVIDENCE_REVIEWED) is None


def test_a_review_decision_belongs_to_its_tenant_and_fits_its_hours() -> None:
    decision = {
        "decision_id": "d-1",
        "evidence_id": "ev-1",
        "learner_id": "learner-1",
        "institution_id": "uni-a",
        "decision": "approved",
        "approved_hours": "10",
        "reviewer_id": "rules",
        "decided_at": "2026-01-01T00:00:00Z",
    }
    payload = ReviewDecisionV1.model_validate(decision)
    envelope = Envelope.wrap(payload, source="/reviewer", subject="ev-1", tenant="uni-a")
    assert envelope.topic == topics.review_decisions("uni-a")
    with pytest.raises(ValueError, match="differs from the payload's institution"):
        Envelope.wrap(payload, source="/reviewer", subject="ev-1", tenant="uni-b")
    with pytest.raises(ValueError, match="more than 0 hours"):
        ReviewDecisionV1.model_validate({**decision, "approved_hours": "0"})
    with pytest.raises(ValueError, match="needs a reason"):
        ReviewDecisionV1.model_validate({**decision, "decision": "rejected", "approved_hours": "0"})
