"""The one place where accounting's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_accounting.api import router
from microcred_accounting.handlers import Accounting
from microcred_accounting.settings import AccountingSettings
from microcred_shared.auth import RemoteKeySet
from microcred_shared.contracts.events import (
    CompetenceAwardedV1,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
)
from microcred_shared.service import wire
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, AccountingSettings) else AccountingSettings()
    wiring = wire(
        settings,
        publishes=[CompetenceAwardedV1],
        description="Evidence-submitted and evidence-reviewed in; competence-awarded out.",
    )
    accounting = Accounting(wiring.database, wiring.publisher)
    wiring.subscribe(EvidenceSubmittedV1, accounting.on_evidence_submitted)
    wiring.subscribe(EvidenceReviewedV1, accounting.on_evidence_reviewed)
    app = wiring.app(
        title="microcred accounting",
        description="The hours→ECTS ledger and competence awards.",
        outbox=[accounting.awards],
        routers=[router],
        on_start=(accounting.ensure_indexes,),
    )
    app.state.accounting = accounting
    app.state.keys = RemoteKeySet(settings.jwks_url)
    return app
