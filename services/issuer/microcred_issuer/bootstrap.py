"""The one place where the issuer's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_issuer.api import router
from microcred_issuer.handlers import SOURCE, Issuer
from microcred_issuer.keys import MasterKeyCipher
from microcred_issuer.settings import IssuerSettings
from microcred_shared.contracts.events import CompetenceAwardedV1, CredentialIssuedV1
from microcred_shared.kafka import KafkaEventPublisher, make_broker, subscribe
from microcred_shared.mongo import make_mongo_client, service_database
from microcred_shared.outbox import OutboxRelay
from microcred_shared.service import Runtime, create_app
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, IssuerSettings) else IssuerSettings()
    broker = make_broker(settings, description="Competence-awarded in; credential-issued out.")
    publisher = KafkaEventPublisher(broker, [CredentialIssuedV1], SOURCE)
    mongo = make_mongo_client(settings)
    database = service_database(mongo, settings)
    issuer = Issuer(
        database, publisher, MasterKeyCipher(settings.master_key_bytes()), settings.public_url
    )
    subscribe(
        broker, CompetenceAwardedV1, issuer.on_competence_awarded, group_id="microcred-issuer"
    )
    runtime = Runtime(
        settings=settings,
        broker=broker,
        publisher=publisher,
        mongo=mongo,
        database=database,
        relay=OutboxRelay([issuer.credentials], publisher, settings.outbox_relay_interval_seconds),
        on_start=(issuer.ensure_indexes,),
    )
    app = create_app(
        runtime,
        title="microcred issuer",
        description="Institutions' keys and DIDs; signed Open Badges 3.0 credentials.",
        routers=[router],
    )
    app.state.issuer = issuer
    return app
