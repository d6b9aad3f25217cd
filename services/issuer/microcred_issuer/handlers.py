"""The issuer's use cases: sign one credential per award, and verify credentials."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_issuer.credential import (
    VerificationError,
    build_credential,
    institution_did,
    sign_jwt,
    verification_method_id,
    verify_jwt,
)
from microcred_issuer.keys import KeyStore, public_key_from_multibase
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import CompetenceAwardedV1, CredentialIssuedV1
from microcred_shared.crypto import KeyCipher
from microcred_shared.kafka import RawEventPublisher
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import ensure_outbox_index, flush, outbox_fields

log = get_logger(__name__)

SOURCE = "/microcred/issuer"


def credential_id_for(award_id: str) -> str:
    return "urn:uuid:" + deterministic_event_id("credential", award_id)


@dataclass
class Issuer:
    database: AsyncDatabase[Document]
    publisher: RawEventPublisher
    cipher: KeyCipher
    public_url: str

    def __post_init__(self) -> None:
        self.keys = KeyStore(self.database["keys"], self.cipher)

    @property
    def credentials(self) -> Any:
        return self.database["credentials"]

    async def ensure_indexes(self) -> None:
        await self.credentials.create_index("credential_id", unique=True)
        await ensure_outbox_index(self.credentials)

    def did(self, institution_id: str) -> str:
        return institution_did(self.public_url, institution_id)

    async def on_competence_awarded(self, envelope: Envelope[CompetenceAwardedV1]) -> None:
        """Sign the award's credential once; a redelivery only re-publishes what is unsent."""
        award = envelope.data
        if await self.credentials.find_one({"_id": award.award_id}, {"_id": 1}) is None:
            key = await self.keys.active_key(envelope.tenant)
            did = self.did(envelope.tenant)
            kid = verification_method_id(did, key)
            credential_id = credential_id_for(award.award_id)
            issued_at = datetime.now(UTC).replace(microsecond=0)
            credential = build_credential(award, credential_id, did, issued_at)
            token = sign_jwt(credential, key, kid)
            event = Envelope.wrap(
                CredentialIssuedV1(
                    credential_id=credential_id,
                    award_id=award.award_id,
                    learner_id=award.learner_id,
                    learner=award.learner,
                    institution=award.institution,
                    achievement_title=award.competence.title,
                    issued_at=issued_at,
                    credential=credential,
                    credential_jwt=token,
                    verification_method=kid,
                ),
                source=SOURCE,
                subject=credential_id,
                tenant=envelope.tenant,
                event_id=deterministic_event_id("credential-issued", award.award_id),
                time=issued_at,
            )
            try:
                await self.credentials.insert_one(
                    {
                        "_id": award.award_id,
                        "credential_id": credential_id,
                        "institution_id": envelope.tenant,
                        "learner_id": award.learner_id,
                        "credential": credential,
                        "credential_jwt": token,
                        "verification_method": kid,
                        "issued_at": issued_at,
                        **outbox_fields([event]),
                    }
                )
                log.info("credential.issued", credential_id=credential_id)
            except DuplicateKeyError:
                pass
        await flush(self.credentials, award.award_id, self.publisher)

    async def credential(self, credential_id: str) -> Document | None:
        document: Document | None = await self.credentials.find_one(
            {"credential_id": credential_id}, {"outbox": 0, "outbox_pending": 0}
        )
        return document

    async def verify(self, token: str) -> dict[str, Any]:
        """Verify a VC-JWT against the key its ``kid`` names, resolved from this issuer."""
        from joserfc.jws import extract_compact  # noqa: PLC0415

        checks: dict[str, Any] = {"signature": False, "issuer": None}
        try:
            kid = str(extract_compact(token.encode()).headers().get("kid", ""))
        except Exception as exc:  # noqa: BLE001 - any malformed token is simply invalid
            return {"verified": False, "checks": checks, "error": f"malformed token: {exc}"}
        did, _, fragment = kid.partition("#")
        institution_id = did.rsplit(":", 1)[-1]
        if did != self.did(institution_id):
            return {"verified": False, "checks": checks, "error": "unknown issuer"}
        keys = {k.key_id: k for k in await self.keys.public_keys(institution_id)}
        key = keys.get(fragment)
        if key is None:
            return {"verified": False, "checks": checks, "error": "unknown key"}
        try:
            credential = verify_jwt(token, public_key_from_multibase(key.public_multibase))
        except VerificationError as exc:
            return {"verified": False, "checks": checks, "error": str(exc)}
        issuer = credential.get("issuer", {})
        issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
        checks.update(signature=True, issuer=issuer_id)
        if issuer_id != did:
            return {"verified": False, "checks": checks, "error": "issuer differs from signer"}
        return {"verified": True, "checks": checks, "credential": credential}
