"""The one place where accounting's real adapters are wired."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from microcred_accounting.api import router
from microcred_accounting.handlers import Accounting
from microcred_accounting.reports import ReadSide
from microcred_accounting.settings import AccountingSettings
from microcred_shared.auth import RemoteKeySet
from microcred_shared.contracts.events import (
    AwardRevokedV1,
    CompetenceAwardedV1,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    EvidenceWithdrawnV1,
    PathwayAwardedV1,
)
from microcred_shared.service import PeriodicTask, wire
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, AccountingSettings) else AccountingSettings()
    wiring = wire(
        settings,
        publishes=[CompetenceAwardedV1, PathwayAwardedV1, AwardRevokedV1],
        description=(
            "Evidence submitted, withdrawn and reviewed in; competence and pathway awards, "
            "and their revocations, out."
        ),
    )
    accounting = Accounting(
        wiring.database,
        wiring.publisher,
        unknown_evidence_grace=timedelta(seconds=settings.unknown_evidence_grace_seconds),
    )
    wiring.subscribe(EvidenceSubmittedV1, accounting.on_evidence_submitted)
    wiring.subscribe(EvidenceWithdrawnV1, accounting.on_evidence_withdrawn)
    wiring.subscribe(EvidenceReviewedV1, accounting.on_evidence_reviewed)

    async def dead_letter_unknown_evidence() -> None:
        await accounting.dead_letter_stale_parked()

    app = wiring.app(
        title="microcred accounting",
        description="The hours→ECTS ledger, competence and pathway awards, and reports.",
        outbox=[accounting.awards],
        routers=[router],
        on_start=(accounting.ensure_indexes,),
        periodic=(
            PeriodicTask(
                "dead-letter-unknown-evidence",
                settings.parked_sweep_interval_seconds,
                dead_letter_unknown_evidence,
            ),
            # What a crash left of a pathway's definition or a new partner's sharing.
            PeriodicTask(
                "reconcile-pathways",
                settings.parked_sweep_interval_seconds,
                accounting.stacking.reconcile_pending,
            ),
        ),
    )
    app.state.accounting = accounting
    app.state.read_side = ReadSide(accounting)
    app.state.keys = RemoteKeySet(settings.jwks_url)
    return app
