"""The one place where review's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_review.api import router
from microcred_review.handlers import SOURCE, Review
from microcred_review.settings import ReviewSettings
from microcred_shared.contracts.events import EvidenceReviewedV1, EvidenceSubmittedV1
from microcred_shared.kafka import KafkaEventPublisher, make_broker, subscribe
from microcred_shared.mongo import make_mongo_client, service_database
from microcred_shared.outbox import OutboxRelay
from microcred_shared.service import Runtime, create_app
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, ReviewSettings) else ReviewSettings()
    broker = make_broker(settings, description="Evidence-submitted in; evidence-reviewed out.")
    publisher = KafkaEventPublisher(broker, [EvidenceReviewedV1], SOURCE)
    mongo = make_mongo_client(settings)
    database = service_database(mongo, settings)
    review = Review(database, publisher)
    subscribe(
        broker, EvidenceSubmittedV1, review.on_evidence_submitted, group_id="microcred-review"
    )
    runtime = Runtime(
        settings=settings,
        broker=broker,
        publisher=publisher,
        mongo=mongo,
        database=database,
        relay=OutboxRelay([review.queue], publisher, settings.outbox_relay_interval_seconds),
        on_start=(review.ensure_indexes,),
    )
    app = create_app(
        runtime,
        title="microcred review",
        description="Evaluators' queue and decisions on evidence.",
        routers=[router],
    )
    app.state.review = review
    return app
