"""The one place where review's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_review.api import router
from microcred_review.handlers import Review
from microcred_review.settings import ReviewSettings
from microcred_shared.auth import RemoteKeySet
from microcred_shared.contracts.events import (
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    EvidenceWithdrawnV1,
)
from microcred_shared.service import wire
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, ReviewSettings) else ReviewSettings()
    wiring = wire(
        settings,
        publishes=[EvidenceReviewedV1],
        description="Evidence-submitted in; evidence-reviewed out.",
    )
    review = Review(wiring.database, wiring.publisher)
    wiring.subscribe(EvidenceSubmittedV1, review.on_evidence_submitted)
    wiring.subscribe(EvidenceWithdrawnV1, review.on_evidence_withdrawn)
    app = wiring.app(
        title="microcred review",
        description="Evaluators' queue and decisions on evidence.",
        outbox=[review.queue],
        routers=[router],
        on_start=(review.ensure_indexes,),
    )
    app.state.review = review
    app.state.keys = RemoteKeySet(settings.jwks_url)
    return app
