"""The one place where the issuer's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_issuer.api import router
from microcred_issuer.handlers import Issuer
from microcred_issuer.settings import IssuerSettings
from microcred_shared.contracts.events import CompetenceAwardedV1, CredentialIssuedV1
from microcred_shared.crypto import MasterKeyCipher
from microcred_shared.service import wire
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, IssuerSettings) else IssuerSettings()
    wiring = wire(
        settings,
        publishes=[CredentialIssuedV1],
        description="Competence-awarded in; credential-issued out.",
    )
    issuer = Issuer(
        wiring.database,
        wiring.publisher,
        MasterKeyCipher(settings.master_key_bytes()),
        settings.public_url,
    )
    wiring.subscribe(CompetenceAwardedV1, issuer.on_competence_awarded)
    app = wiring.app(
        title="microcred issuer",
        description="Institutions' keys and DIDs; signed Open Badges 3.0 credentials.",
        outbox=[issuer.credentials],
        routers=[router],
        on_start=(issuer.ensure_indexes,),
    )
    app.state.issuer = issuer
    return app
