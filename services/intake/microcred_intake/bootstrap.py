"""The one place where intake's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_intake.api import router
from microcred_intake.handlers import Intake
from microcred_intake.settings import IntakeSettings
from microcred_intake.store import IntakeStore
from microcred_shared.contracts.events import EvidenceReviewedV1, EvidenceSubmittedV1
from microcred_shared.s3 import ObjectStore, make_s3_client
from microcred_shared.service import wire
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, IntakeSettings) else IntakeSettings()
    wiring = wire(
        settings,
        publishes=[EvidenceSubmittedV1],
        description="Learners' evidence in; evidence-submitted out.",
    )
    store = IntakeStore(wiring.database)
    objects = ObjectStore(make_s3_client(settings), settings.s3_bucket)
    intake = Intake(
        store=store,
        objects=objects,
        publisher=wiring.publisher,
        max_file_bytes=settings.max_file_bytes,
        max_files=settings.max_files_per_evidence,
    )
    wiring.subscribe(EvidenceReviewedV1, intake.on_evidence_reviewed)
    app = wiring.app(
        title="microcred intake",
        description="Institutions, catalogues, learners and their evidence of learning.",
        outbox=[store.evidence],
        routers=[router],
        object_store=objects,
        on_start=(store.ensure_indexes, objects.ensure_bucket),
    )
    app.state.intake = intake
    return app
