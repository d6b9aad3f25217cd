"""The one place where review's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_review.api import router
from microcred_review.gateway import Gateway
from microcred_review.institutions import Institutions
from microcred_review.settings import ReviewSettings
from microcred_review.workspace import Workspace
from microcred_shared.auth import RemoteKeySet
from microcred_shared.contracts.events import (
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    EvidenceWithdrawnV1,
    ReviewDecisionV1,
    ReviewRequestedV1,
)
from microcred_shared.contracts.topics import REVIEW_DECISIONS_PATTERN, REVIEW_REQUESTS_PATTERN
from microcred_shared.kafka import create_missing_topics, subscribe_pattern
from microcred_shared.service import consumer_group, wire
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, ReviewSettings) else ReviewSettings()
    wiring = wire(
        settings,
        publishes=[ReviewRequestedV1, ReviewDecisionV1, EvidenceReviewedV1],
        description=(
            "Evidence-submitted in; review requests out to each institution's reviewer; their "
            "decisions in; evidence-reviewed out. The built-in reviewer answers for "
            "institutions in builtin mode."
        ),
    )

    async def create_topics(names: tuple[str, ...]) -> None:
        await create_missing_topics(
            settings,
            names,
            partitions=settings.review_topic_partitions,
            replication_factor=settings.review_topic_replication_factor,
        )

    institutions = Institutions(wiring.database, create_topics)
    workspace = Workspace(wiring.database, wiring.publisher, institutions)
    gateway = Gateway(wiring.database, wiring.publisher, institutions, workspace)
    wiring.subscribe(EvidenceSubmittedV1, gateway.on_evidence_submitted)
    wiring.subscribe(EvidenceWithdrawnV1, gateway.on_evidence_withdrawn)
    subscribe_pattern(
        wiring.broker,
        ReviewDecisionV1,
        gateway.on_review_decision,
        pattern=REVIEW_DECISIONS_PATTERN,
        group_id=consumer_group(settings.consumer_group, "review-decisions"),
    )
    subscribe_pattern(
        wiring.broker,
        ReviewRequestedV1,
        workspace.on_review_requested,
        pattern=REVIEW_REQUESTS_PATTERN,
        group_id=consumer_group(settings.consumer_group, "builtin-reviewer"),
    )
    app = wiring.app(
        title="microcred review",
        description="Evaluators' workspace, and the review contract with institutions' reviewers.",
        outbox=[gateway.cases, workspace.queue],
        routers=[router],
        on_start=(workspace.ensure_indexes, gateway.ensure_indexes),
    )
    app.state.workspace = workspace
    app.state.institutions = institutions
    app.state.gateway = gateway
    app.state.keys = RemoteKeySet(settings.jwks_url)
    return app
