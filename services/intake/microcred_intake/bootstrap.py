"""The one place where intake's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_intake.api import router
from microcred_intake.handlers import SOURCE, Intake
from microcred_intake.settings import IntakeSettings
from microcred_intake.store import IntakeStore
from microcred_shared.contracts.events import EvidenceReviewedV1, EvidenceSubmittedV1
from microcred_shared.kafka import KafkaEventPublisher, make_broker, subscribe
from microcred_shared.mongo import make_mongo_client, service_database
from microcred_shared.outbox import OutboxRelay
from microcred_shared.s3 import ObjectStore, make_s3_client
from microcred_shared.service import Runtime, create_app
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, IntakeSettings) else IntakeSettings()
    broker = make_broker(settings, description="Learners' evidence in; evidence-submitted out.")
    publisher = KafkaEventPublisher(broker, [EvidenceSubmittedV1], SOURCE)
    mongo = make_mongo_client(settings)
    database = service_database(mongo, settings)
    store = IntakeStore(database)
    objects = ObjectStore(make_s3_client(settings), settings.s3_bucket)
    intake = Intake(
        store=store,
        objects=objects,
        publisher=publisher,
        max_file_bytes=settings.max_file_bytes,
        max_files=settings.max_files_per_evidence,
    )
    subscribe(broker, EvidenceReviewedV1, intake.on_evidence_reviewed, group_id="microcred-intake")
    runtime = Runtime(
        settings=settings,
        broker=broker,
        publisher=publisher,
        mongo=mongo,
        database=database,
        relay=OutboxRelay([store.evidence], publisher, settings.outbox_relay_interval_seconds),
        object_store=objects,
        on_start=(store.ensure_indexes, objects.ensure_bucket),
    )
    app = create_app(
        runtime,
        title="microcred intake",
        description="Institutions, catalogues, learners and their evidence of learning.",
        routers=[router],
    )
    app.state.intake = intake
    return app
