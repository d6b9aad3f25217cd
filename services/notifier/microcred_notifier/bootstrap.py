"""The one place where the notifier's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_notifier.api import router
from microcred_notifier.handlers import SOURCE, Notifier
from microcred_notifier.mailer import SmtpMailer
from microcred_notifier.settings import NotifierSettings
from microcred_shared.contracts.events import (
    CredentialIssuedV1,
    NotificationFailedV1,
    NotificationSentV1,
)
from microcred_shared.kafka import KafkaEventPublisher, make_broker, subscribe
from microcred_shared.mongo import make_mongo_client, service_database
from microcred_shared.outbox import OutboxRelay
from microcred_shared.service import Runtime, create_app
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, NotifierSettings) else NotifierSettings()
    broker = make_broker(settings, description="Credential-issued in; claim emails out.")
    publisher = KafkaEventPublisher(broker, [NotificationSentV1, NotificationFailedV1], SOURCE)
    mongo = make_mongo_client(settings)
    database = service_database(mongo, settings)
    mailer = SmtpMailer(settings)
    notifier = Notifier(
        database=database,
        publisher=publisher,
        mailer=mailer,
        mail_from=settings.mail_from,
        public_url=settings.public_url,
        claim_valid_days=settings.claim_valid_days,
    )
    subscribe(
        broker, CredentialIssuedV1, notifier.on_credential_issued, group_id="microcred-notifier"
    )
    runtime = Runtime(
        settings=settings,
        broker=broker,
        publisher=publisher,
        mongo=mongo,
        database=database,
        relay=OutboxRelay([notifier.claims], publisher, settings.outbox_relay_interval_seconds),
        on_start=(notifier.ensure_indexes,),
        extra_checks={"smtp": mailer.ping},
    )
    app = create_app(
        runtime,
        title="microcred notifier",
        description="Claim emails and the claim page.",
        routers=[router],
    )
    app.state.notifier = notifier
    return app
