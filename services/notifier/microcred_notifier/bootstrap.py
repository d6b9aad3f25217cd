"""The one place where the notifier's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_notifier.api import router as api_router
from microcred_notifier.claims import ClaimDesk
from microcred_notifier.handlers import Notifier
from microcred_notifier.issuer_client import IssuerClient
from microcred_notifier.pages import Pages
from microcred_notifier.pages import router as pages_router
from microcred_notifier.settings import NotifierSettings
from microcred_notifier.throttle import Throttle
from microcred_notifier.wallet import Sessions, Shares
from microcred_shared.auth import RemoteKeySet
from microcred_shared.contracts.events import (
    CredentialIssuedV1,
    CredentialRevokedV1,
    NotificationFailedV1,
    NotificationSentV1,
)
from microcred_shared.mail import SmtpMailer
from microcred_shared.service import PeriodicTask, wire
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, NotifierSettings) else NotifierSettings()
    wiring = wire(
        settings,
        publishes=[NotificationSentV1, NotificationFailedV1],
        description="Credential-issued in; claim e-mails out.",
    )
    mailer = SmtpMailer(settings)
    notifier = Notifier(
        database=wiring.database, publisher=wiring.publisher, mailer=mailer, settings=settings
    )
    throttle = Throttle(
        wiring.database, settings.token_failures_per_window, settings.throttle_window_seconds
    )
    sessions = Sessions(wiring.database, settings.session_hours)
    shares = Shares(wiring.database)
    keys = RemoteKeySet(settings.jwks_url)
    issuer = IssuerClient(settings.issuer_url, verdict_seconds=settings.verdict_cache_seconds)
    wiring.subscribe(CredentialIssuedV1, notifier.on_credential_issued)
    wiring.subscribe(CredentialRevokedV1, notifier.on_credential_revoked)

    async def close_issuer() -> None:
        await issuer.close()

    async def deliver_due() -> None:
        await notifier.deliver_due()

    app = wiring.app(
        title="microcred notifier",
        description=(
            "Claim e-mails, the claim pages, the learner's wallet and share links, and the "
            "institution's claim settings and deliveries."
        ),
        outbox=[notifier.claims],
        routers=[api_router, pages_router],
        on_start=(
            notifier.ensure_indexes,
            throttle.ensure_indexes,
            sessions.ensure_indexes,
            shares.ensure_indexes,
        ),
        extra_checks={"smtp": mailer.ping},
        periodic=[PeriodicTask("deliver-due", settings.delivery_poll_seconds, deliver_due)],
    )
    app.state.notifier = notifier
    app.state.keys = keys
    app.state.pages = Pages(notifier, ClaimDesk(notifier, throttle), sessions, shares, issuer, keys)
    app.router.add_event_handler("shutdown", close_issuer)
    return app
