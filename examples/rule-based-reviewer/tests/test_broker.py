"""The reviewer's subscriber and publisher, on FastStream's in-memory test broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker

from microcred_shared.contracts import Envelope
from microcred_shared.contracts.events import ReviewRequestedV1
from microcred_shared.testing.samples import submitted
from rule_based_reviewer.app import build_broker
from rule_based_reviewer.settings import ReviewerSettings

pytestmark = pytest.mark.unit

REQUESTS = "microcred.review.uni-a.requests.v1"
DECISIONS = "microcred.review.uni-a.decisions.v1"


def request(tenant: str, evidence_id: str, provider: str) -> bytes:
    evidence = submitted(tenant=tenant, evidence_id=evidence_id, hours=Decimal(30)).data
    payload = ReviewRequestedV1.model_validate(
        {**evidence.model_dump(), "provider": provider, "requested_at": datetime.now(UTC)}
    )
    envelope = Envelope.wrap(payload, source="/t", subject=evidence_id, tenant=tenant)
    return envelope.to_bytes()


async def test_requests_in_decisions_out_once_per_evidence() -> None:
    settings = ReviewerSettings(institution_id="uni-a", trusted_providers=("Open Learning Hub",))
    broker = build_broker(settings)
    published: list[dict[str, Any]] = []

    @broker.subscriber(DECISIONS)
    async def platform(decision: bytes) -> None:
        published.append(json.loads(decision))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(request("uni-a", "ev-1", "Open Learning Hub"), REQUESTS)
        await test_broker.publish(request("uni-a", "ev-1", "Open Learning Hub"), REQUESTS)
        await test_broker.publish(request("uni-a", "ev-2", "Elsewhere"), REQUESTS)
        await test_broker.publish(request("uni-b", "ev-3", "Open Learning Hub"), REQUESTS)
        await test_broker.publish(b"not an event", REQUESTS)

    decisions = [(d["data"]["evidence_id"], d["data"]["decision"]) for d in published]
    assert decisions == [
        ("ev-1", "approved"),
        ("ev-1", "approved"),
        ("ev-2", "changes_requested"),
    ]
    assert published[0]["data"]["decision_id"] == published[1]["data"]["decision_id"]
    assert {d["tenant"] for d in published} == {"uni-a"}
