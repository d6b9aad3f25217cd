"""The one place where the notifier's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_notifier.api import router
from microcred_notifier.handlers import Notifier
from microcred_notifier.settings import NotifierSettings
from microcred_shared.contracts.events import (
    CredentialIssuedV1,
    CredentialRevokedV1,
    NotificationFailedV1,
    NotificationSentV1,
)
from microcred_shared.mail import SmtpMailer
from microcred_shared.service import wire
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, NotifierSettings) else NotifierSettings()
    wiring = wire(
        settings,
        publishes=[NotificationSentV1, NotificationFailedV1],
        description="Credential-issued in; claim emails out.",
    )
    mailer = SmtpMailer(settings)
    notifier = Notifier(
        database=wiring.database,
        publisher=wiring.publisher,
        mailer=mailer,
        mail_from=settings.mail_from,
        public_url=settings.public_url,
        claim_valid_days=settings.claim_valid_days,
    )
    wiring.subscribe(CredentialIssuedV1, notifier.on_credential_issued)
    wiring.subscribe(CredentialRevokedV1, notifier.on_credential_revoked)
    app = wiring.app(
        title="microcred notifier",
        description="Claim emails and the claim page.",
        outbox=[notifier.claims],
        routers=[router],
        on_start=(notifier.ensure_indexes,),
        extra_checks={"smtp": mailer.ping},
    )
    app.state.notifier = notifier
    return app
