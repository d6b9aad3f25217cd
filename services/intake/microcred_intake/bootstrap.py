"""The one place where intake's real adapters are wired."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from microcred_intake.accounting_client import AccountingClient, AccountingUnavailableError
from microcred_intake.accounts import Accounts, SigningKeys
from microcred_intake.api import router
from microcred_intake.auth_api import router as auth_router
from microcred_intake.handlers import Intake
from microcred_intake.handoff import router as handoff_router
from microcred_intake.limits import FORM_ALLOWANCE, BodyLimit
from microcred_intake.pages import router as pages_router
from microcred_intake.report_pages import accounting_unavailable
from microcred_intake.report_pages import router as report_pages_router
from microcred_intake.review_client import ReviewClient, ReviewUnavailableError
from microcred_intake.review_pages import review_unavailable
from microcred_intake.review_pages import router as review_pages_router
from microcred_intake.settings import IntakeSettings
from microcred_intake.store import IntakeStore
from microcred_shared.contracts.events import (
    AwardRevokedV1,
    CompetenceAwardedV1,
    CredentialIssuedV1,
    CredentialRevokedV1,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    EvidenceWithdrawnV1,
)
from microcred_shared.crypto import MasterKeyCipher
from microcred_shared.mail import SmtpMailer
from microcred_shared.s3 import ObjectStore, make_s3_client
from microcred_shared.service import wire
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, IntakeSettings) else IntakeSettings()
    wiring = wire(
        settings,
        publishes=[EvidenceSubmittedV1, EvidenceWithdrawnV1],
        description="Learners' accounts and evidence in; evidence-submitted out.",
    )
    store = IntakeStore(wiring.database)
    objects = ObjectStore(make_s3_client(settings), settings.s3_bucket)
    mailer = SmtpMailer(settings)
    accounts = Accounts(
        database=wiring.database,
        keys=SigningKeys(
            wiring.database["signing_keys"], MasterKeyCipher(settings.secret_key_bytes())
        ),
        mailer=mailer,
        mail_from=settings.mail_from,
        public_url=settings.public_url,
        access_token_minutes=settings.access_token_minutes,
        session_hours=settings.session_hours,
        verification_hours=settings.verification_hours,
        reset_minutes=settings.reset_minutes,
        login_attempts_per_15_minutes=settings.login_attempts_per_15_minutes,
        resets_per_hour=settings.resets_per_hour,
    )
    intake = Intake(
        store=store,
        objects=objects,
        publisher=wiring.publisher,
        max_file_bytes=settings.max_file_bytes,
        max_files=settings.max_files_per_evidence,
    )
    wiring.subscribe(EvidenceReviewedV1, intake.on_evidence_reviewed)
    wiring.subscribe(CompetenceAwardedV1, intake.on_competence_awarded)
    wiring.subscribe(CredentialIssuedV1, intake.on_credential_issued)
    wiring.subscribe(AwardRevokedV1, intake.on_award_revoked)
    wiring.subscribe(CredentialRevokedV1, intake.on_credential_revoked)

    async def first_admin() -> None:
        await accounts.ensure_first_admin(
            settings.first_admin_email, settings.first_admin_password.get_secret_value()
        )

    app = wiring.app(
        title="microcred intake",
        description="Accounts, institutions and catalogues, and learners' evidence of learning.",
        outbox=[store.evidence],
        routers=[
            auth_router,
            router,
            pages_router,
            handoff_router,
            review_pages_router,
            report_pages_router,
        ],
        object_store=objects,
        on_start=(
            store.ensure_indexes,
            accounts.ensure_indexes,
            objects.ensure_bucket,
            first_admin,
        ),
        extra_checks={"smtp": mailer.ping},
    )
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_files_per_evidence * settings.max_file_bytes + FORM_ALLOWANCE,
    )
    app.state.intake = intake
    app.state.accounts = accounts
    app.state.issuer_url = settings.issuer_url.rstrip("/")
    app.state.notifier_url = settings.notifier_url.rstrip("/")
    review = ReviewClient(settings.review_url, settings.review_timeout_seconds)
    app.state.review = review
    app.state.review_token_seconds = settings.review_token_seconds
    app.add_exception_handler(ReviewUnavailableError, review_unavailable)
    accounting = AccountingClient(settings.accounting_url, settings.accounting_timeout_seconds)
    app.state.accounting = accounting
    app.state.accounting_token_seconds = settings.accounting_token_seconds
    app.add_exception_handler(AccountingUnavailableError, accounting_unavailable)
    _close_on_shutdown(app, review, accounting)
    return app


def _close_on_shutdown(app: FastAPI, review: ReviewClient, accounting: AccountingClient) -> None:
    """The review and accounting clients' connections close with the app."""
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(running: FastAPI) -> AsyncIterator[None]:
        async with started(running):
            try:
                yield
            finally:
                await review.close()
                await accounting.close()

    app.router.lifespan_context = lifespan
