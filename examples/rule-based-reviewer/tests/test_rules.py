"""The reviewer's rules and settings, in memory."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from microcred_shared.contracts import Envelope
from microcred_shared.contracts.events import ReviewRequestedV1
from microcred_shared.testing.samples import submitted
from rule_based_reviewer.rules import Rules, decision_id
from rule_based_reviewer.settings import ReviewerSettings

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 1, tzinfo=UTC)
RULES = Rules.of("uni-a", ["Open Learning Hub", "Coursera"], "rules-v1")


def request(
    tenant: str = "uni-a", provider: str = "Open Learning Hub", evidence_id: str = "ev-1"
) -> Envelope[ReviewRequestedV1]:
    evidence = submitted(tenant=tenant, evidence_id=evidence_id, hours=Decimal("12.5")).data
    payload = ReviewRequestedV1.model_validate(
        {**evidence.model_dump(), "provider": provider, "requested_at": NOW}
    )
    return Envelope.wrap(payload, source="/microcred/review", subject=evidence_id, tenant=tenant)


def test_evidence_from_a_trusted_provider_is_approved_in_full() -> None:
    decision = RULES.decide(request(provider="  open learning   HUB "), NOW)
    assert decision is not None
    assert decision.data.decision == "approved"
    assert decision.data.approved_hours == Decimal("12.5")
    assert decision.tenant == "uni-a"
    assert decision.data.institution_id == "uni-a"
    assert decision.data.reviewer_id == "rules-v1"
    assert decision.key() == b"learner-1"
    assert decision.topic == "microcred.review.uni-a.decisions.v1"


def test_other_providers_get_a_request_for_changes_with_the_reason() -> None:
    decision = RULES.decide(request(provider="Bob's Bootcamp"), NOW)
    assert decision is not None
    assert decision.data.decision == "changes_requested"
    assert decision.data.approved_hours == 0
    assert "Bob's Bootcamp" in decision.data.reason
    assert "Open Learning Hub, Coursera" in decision.data.reason


def test_a_redelivered_request_gets_the_same_decision_and_event_ids() -> None:
    first = RULES.decide(request(), NOW)
    again = RULES.decide(request(), datetime.now(UTC))
    assert first is not None
    assert again is not None
    assert first.data.decision_id == again.data.decision_id == decision_id("uni-a", "ev-1")
    assert first.id == again.id
    assert decision_id("uni-b", "ev-1") != decision_id("uni-a", "ev-1")
    other = RULES.decide(request(evidence_id="ev-2"), NOW)
    assert other is not None
    assert other.data.decision_id != first.data.decision_id


def test_another_institutions_request_is_not_decided() -> None:
    assert RULES.decide(request(tenant="uni-b"), NOW) is None


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWER_INSTITUTION_ID", "uni-a")
    monkeypatch.setenv("REVIEWER_TRUSTED_PROVIDERS", "Open Learning Hub, Coursera ,")
    monkeypatch.setenv("REVIEWER_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("REVIEWER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("REVIEWER_KAFKA_SASL_USERNAME", "reviewer-uni-a")
    monkeypatch.setenv("REVIEWER_KAFKA_SASL_PASSWORD", "secret")
    settings = ReviewerSettings()
    assert settings.trusted_providers == ("Open Learning Hub", "Coursera")
    assert settings.consumer_group == "reviewer-uni-a:rule-based-reviewer"
    assert "secret" not in repr(settings)


def test_settings_refuse_a_group_outside_the_institutions_prefix() -> None:
    with pytest.raises(ValidationError, match="must start with 'reviewer-uni-a:'"):
        ReviewerSettings(institution_id="uni-a", consumer_group="reviewer-uni-b.x")
    with pytest.raises(ValidationError, match="SASL needs"):
        ReviewerSettings(institution_id="uni-a", kafka_sasl_mechanism="SCRAM-SHA-512")
    with pytest.raises(ValidationError):
        ReviewerSettings(institution_id="not:an:id")
