"""The one place where accounting's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_accounting.api import router
from microcred_accounting.handlers import SOURCE, Accounting
from microcred_accounting.settings import AccountingSettings
from microcred_shared.contracts.events import CompetenceAwardedV1, EvidenceReviewedV1
from microcred_shared.kafka import KafkaEventPublisher, make_broker, subscribe
from microcred_shared.mongo import make_mongo_client, service_database
from microcred_shared.outbox import OutboxRelay
from microcred_shared.service import Runtime, create_app
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, AccountingSettings) else AccountingSettings()
    broker = make_broker(settings, description="Evidence-reviewed in; competence-awarded out.")
    publisher = KafkaEventPublisher(broker, [CompetenceAwardedV1], SOURCE)
    mongo = make_mongo_client(settings)
    database = service_database(mongo, settings)
    accounting = Accounting(database, publisher)
    subscribe(
        broker, EvidenceReviewedV1, accounting.on_evidence_reviewed, group_id="microcred-accounting"
    )
    runtime = Runtime(
        settings=settings,
        broker=broker,
        publisher=publisher,
        mongo=mongo,
        database=database,
        relay=OutboxRelay([accounting.awards], publisher, settings.outbox_relay_interval_seconds),
        on_start=(accounting.ensure_indexes,),
    )
    app = create_app(
        runtime,
        title="microcred accounting",
        description="The hours→ECTS ledger and competence awards.",
        routers=[router],
    )
    app.state.accounting = accounting
    return app
