"""The example reviewer passes the conformance kit, on the real broker.

Where the broker authenticates (the embedded one does), the reviewer connects with the
credentials ``microcred kafka reviewer`` provisions, so the test also shows that its ACLs are
all a correct reviewer needs; the kit connects as the platform's principal.
"""

from __future__ import annotations

import uuid

import pytest

from microcred_shared.conformance.review import (
    KitOptions,
    KitSettings,
    render_report,
    run_review_conformance,
)
from microcred_shared.contracts.topics import institution_review_topics, review_decisions
from microcred_shared.kafka_admin import KafkaAdmin, provision_external_reviewer
from microcred_shared.testing.kafka import read_topic
from microcred_shared.testing.servers import Servers
from rule_based_reviewer.app import build_broker
from rule_based_reviewer.settings import ReviewerSettings

pytestmark = pytest.mark.integration

TRUSTED = "Conformance Kit Academy"


async def reviewer_kafka(servers: Servers, institution_id: str) -> dict[str, object]:
    """The reviewer's connection settings: its own principal where Kafka authenticates."""
    if servers.kafka.credentials is None:
        await KafkaAdmin(servers.kafka).ensure_topics(
            institution_review_topics(institution_id), partitions=3
        )
        return servers.kafka.settings_values()
    reviewer = await provision_external_reviewer(servers.kafka, institution_id, partitions=3)
    return reviewer.connection().settings_values()


async def test_the_example_reviewer_passes_the_kit(servers: Servers) -> None:
    institution = f"uni-{uuid.uuid4().hex[:10]}"
    kafka = await reviewer_kafka(servers, institution)
    settings = ReviewerSettings.model_validate(
        {"institution_id": institution, "trusted_providers": (TRUSTED,), **kafka}
    )
    broker = build_broker(settings)
    await broker.start()
    try:
        report = await run_review_conformance(
            KitSettings.model_validate(servers.kafka_platform.settings_values()),
            KitOptions(
                institution_id=institution,
                deadline=5,
                grace=2,
                providers=(TRUSTED, "Somewhere Else"),
            ),
        )
    finally:
        await broker.stop()

    assert report.passed, render_report(report)
    decided = await read_topic(
        servers.kafka,
        review_decisions(institution),
        until=lambda kept: len(kept) >= report.requests,
    )
    verdicts = {record.json()["data"]["decision"] for record in decided}
    assert verdicts == {"approved", "changes_requested"}
