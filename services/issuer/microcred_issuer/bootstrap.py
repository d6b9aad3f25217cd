"""The one place where the issuer's real adapters are wired."""

from __future__ import annotations

from fastapi import FastAPI

from microcred_issuer.api import router
from microcred_issuer.credential import credential_id_key
from microcred_issuer.handlers import Issuer
from microcred_issuer.institutions_api import router as institutions
from microcred_issuer.keys_api import router as keys
from microcred_issuer.rendering.api import router as renderings
from microcred_issuer.settings import IssuerSettings
from microcred_issuer.vcapi import router as vc_api
from microcred_issuer.verification.api import router as verification
from microcred_shared.auth import RemoteKeySet
from microcred_shared.contracts.events import (
    AwardRevokedV1,
    CompetenceAwardedV1,
    CredentialIssuedV1,
    CredentialRevokedV1,
    PathwayAwardedV1,
)
from microcred_shared.crypto import MasterKeyCipher
from microcred_shared.service import wire
from microcred_shared.settings import ServiceSettings


def build_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings if isinstance(settings, IssuerSettings) else IssuerSettings()
    wiring = wire(
        settings,
        publishes=[CredentialIssuedV1, CredentialRevokedV1],
        description=(
            "Competence-awarded, pathway-awarded and award-revoked in; credential-issued and "
            "credential-revoked out."
        ),
    )
    issuer = Issuer(
        wiring.database,
        wiring.publisher,
        MasterKeyCipher(settings.master_key_bytes()),
        settings.public_url,
        credential_id_key(settings.master_key_bytes()),
    )
    wiring.subscribe(CompetenceAwardedV1, issuer.on_competence_awarded)
    wiring.subscribe(PathwayAwardedV1, issuer.on_pathway_awarded)
    wiring.subscribe(AwardRevokedV1, issuer.on_award_revoked)
    app = wiring.app(
        title="microcred issuer",
        description=(
            "Institutions' keys and DIDs; signed Open Badges 3.0 credentials (competences' "
            "and pathways'), their revocation and verification."
        ),
        outbox=[issuer.credentials],
        routers=[router, keys, institutions, vc_api, renderings, verification],
        on_start=(issuer.keys.prepare, issuer.ensure_indexes),
    )
    app.state.issuer = issuer
    # Callers' access tokens (suspending a credential, the VC-API's issuing) are intake's,
    # checked with its key set.
    app.state.keys = RemoteKeySet(settings.jwks_url)
    return app
