"""The credential's contents, its VC-JWT, keys at rest and issuing exactly once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from pymongo.asynchronous.database import AsyncDatabase

from microcred_issuer.credential import (
    VerificationError,
    build_credential,
    credential_id_key,
    did_document,
    institution_did,
    sign_jwt,
    verify_jwt,
)
from microcred_issuer.handlers import Issuer, credential_id_for
from microcred_issuer.keys import KeyStore, SigningKey, public_key_from_multibase
from microcred_issuer.settings import IssuerSettings
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    AwardedEvidence,
    CompetenceAwardedV1,
    CompetenceSnapshot,
    InstitutionRef,
    LearnerProfile,
)
from microcred_shared.crypto import MasterKeyCipher
from microcred_shared.testing.fakes import RecordingPublisher

MASTER = b"k" * 32
CREDENTIAL_ID_KEY = credential_id_key(MASTER)
TENANT = "inst-a"


def award() -> CompetenceAwardedV1:
    return CompetenceAwardedV1(
        award_id="award-1",
        learner_id="l-1",
        learner=LearnerProfile(name="Ada Lovelace", email="Ada@Example.org"),
        institution=InstitutionRef(
            id=TENANT,
            name="Instituto A",
            country="PT",
            awarding_body_name="Consortium B",
            awarding_body_country="BE",
            quality_assurance="ESG 2015 internal QA",
        ),
        competence=CompetenceSnapshot(
            id="c-1",
            title="Developing digital content",
            description="Create content.",
            learning_outcomes=("Create content", "Edit content"),
            eqf_level=4,
            nqf_level="4",
            isced_f_code="0613",
            assessment_method="Portfolio review",
            form_of_participation="Online",
            access_requirements="None",
        ),
        hours=Decimal(90),
        ects=Decimal(3),
        evidence=(
            AwardedEvidence(
                evidence_id="e-1",
                title="Course",
                provider="Hub",
                hours=Decimal(90),
                start_date=date(2026, 1, 1),
                end_date=date(2026, 3, 1),
            ),
        ),
        learning_started=date(2026, 1, 1),
        learning_ended=date(2026, 3, 1),
        awarded_at=datetime(2026, 3, 2, tzinfo=UTC),
    )


def signing_key() -> SigningKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PrivateKey,
    )

    return SigningKey(TENANT, "key-1", Ed25519PrivateKey.generate())


@pytest.mark.unit
def test_credential_carries_the_eu_constitutive_elements() -> None:
    did = institution_did("https://issuer.example.org", TENANT)
    credential = build_credential(award(), "urn:uuid:1", did, datetime(2026, 3, 2, tzinfo=UTC))
    text = json.dumps(credential)

    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert credential["issuer"]["id"] == did == "did:web:issuer.example.org:institutions:inst-a"
    assert credential["issuer"]["address"]["addressCountryCode"] == "PT"
    assert credential["issuer"]["parentOrg"]["address"]["addressCountryCode"] == "BE"
    assert credential["validFrom"] == "2026-03-02T00:00:00Z"
    subject = credential["credentialSubject"]
    assert "Ada Lovelace" in text
    assert "ada@example.org" not in text.lower()  # the e-mail is only there hashed
    achievement = subject["achievement"]
    assert [r["name"] for r in achievement["resultDescription"]] == [
        "Create content",
        "Edit content",
    ]
    assert subject["creditsEarned"] == 3.0
    assert achievement["fieldOfStudy"] == "ISCED-F 0613"
    assert {a["targetCode"] for a in achievement["alignment"]} == {"4"}
    for element in ("Portfolio review", "ESG 2015", "Online", "Access requirements"):
        assert element in achievement["criteria"]["narrative"]
    assert credential["evidence"][0]["name"] == "Course"


@pytest.mark.unit
def test_vc_jwt_verifies_and_tampering_does_not() -> None:
    key = signing_key()
    credential = {"id": "urn:uuid:1", "issuer": {"id": "did:web:x"}}
    token = sign_jwt(credential, key, "did:web:x#key-1")
    public = public_key_from_multibase(key.public_multibase)
    assert verify_jwt(token, public) == credential

    head, _, signature = token.split(".")
    forged = base64.urlsafe_b64encode(b'{"id":"urn:uuid:2"}').decode().rstrip("=")
    with pytest.raises(VerificationError):
        verify_jwt(f"{head}.{forged}.{signature}", public)
    with pytest.raises(VerificationError):
        verify_jwt(token, public_key_from_multibase(signing_key().public_multibase))


@pytest.mark.unit
def test_did_document_names_the_multikey() -> None:
    key = signing_key()
    document = did_document("did:web:x", [key])
    [method] = document["verificationMethod"]
    assert method["type"] == "Multikey"
    assert method["publicKeyMultibase"].startswith("z6Mk")  # Ed25519 in base58btc
    assert document["assertionMethod"] == ["did:web:x#key-1"]


def by_hand(master_key: bytes, award_id: str) -> str:
    """The credential id as the design states it, computed apart from the issuer's code.

    HKDF-SHA256 (RFC 5869: no salt, info "microcred credential ids", one 32-byte block), then
    HMAC-SHA256 of the award id, its first 16 bytes with RFC 9562's version 8 and variant bits.
    """
    prk = hmac.new(b"\0" * 32, master_key, hashlib.sha256).digest()
    key = hmac.new(prk, b"microcred credential ids\x01", hashlib.sha256).digest()
    raw = int.from_bytes(hmac.new(key, award_id.encode(), hashlib.sha256).digest()[:16])
    raw = (raw & ~(0xF << 76)) | (0x8 << 76)  # version: bits 48-51
    raw = (raw & ~(0x3 << 62)) | (0x2 << 62)  # variant: bits 64-65
    return f"urn:uuid:{uuid.UUID(int=raw)}"


@pytest.mark.unit
def test_a_credential_id_is_fixed_by_the_award_under_the_issuers_key() -> None:
    same = credential_id_for(credential_id_key(MASTER), "award-1")

    assert same == credential_id_for(CREDENTIAL_ID_KEY, "award-1")
    assert same == by_hand(MASTER, "award-1")
    # Pinned: every id already issued depends on it, so the derivation must never drift.
    assert same == "urn:uuid:95ca6e07-a33c-8b16-8f34-fc765e8037ae"
    assert credential_id_for(CREDENTIAL_ID_KEY, "award-2") != same


@pytest.mark.unit
def test_a_credential_id_cannot_be_named_without_the_issuers_master_key() -> None:
    ids = {
        credential_id_for(credential_id_key(master), "award-1")
        for master in (MASTER, b"x" * 32, bytes(range(32)))
    }
    assert len(ids) == 3
    # Not the id anyone could compute from the award, as credential ids once were.
    assert credential_id_for(CREDENTIAL_ID_KEY, "award-1") != "urn:uuid:" + deterministic_event_id(
        "credential", "award-1"
    )
    # The key is derived for this one use: the master key itself is not it.
    assert credential_id_key(MASTER) not in {MASTER, credential_id_key(b"x" * 32)}
    assert len(credential_id_key(MASTER)) == 32
    with pytest.raises(ValueError, match="32 bytes"):
        credential_id_for(b"short", "award-1")


@pytest.mark.unit
@pytest.mark.parametrize("award_id", ["award-1", "a", "award-é-" + "x" * 200])
def test_a_credential_id_is_an_rfc_9562_version_8_uuid_urn(award_id: str) -> None:
    credential_id = credential_id_for(CREDENTIAL_ID_KEY, award_id)

    assert credential_id.startswith("urn:uuid:")
    parsed = uuid.UUID(credential_id.removeprefix("urn:uuid:"))
    assert str(parsed) == credential_id.removeprefix("urn:uuid:")  # canonical, lower case
    assert parsed.variant == uuid.RFC_4122  # RFC 9562 keeps RFC 4122's variant bits, 0b10
    assert parsed.version == 8
    assert credential_id == by_hand(MASTER, award_id)


@pytest.mark.unit
def test_production_refuses_the_development_master_key() -> None:
    with pytest.raises(ValueError, match="development key"):
        IssuerSettings(environment="production")
    with pytest.raises(ValueError, match="32 bytes"):
        IssuerSettings(master_key="c2hvcnQ=")  # type: ignore[arg-type]


@pytest.mark.integration
async def test_private_keys_are_sealed_at_rest(database: AsyncDatabase[Any]) -> None:
    keys = KeyStore(database["keys"], MasterKeyCipher(MASTER))
    key = await keys.first_key(TENANT)
    assert (await keys.active_key(TENANT)).public_multibase == key.public_multibase

    from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    raw = key.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    stored = await database["keys"].find_one({"institution_id": TENANT})
    assert stored is not None
    assert raw not in bytes(stored["sealed_private_key"])
    with pytest.raises(InvalidTag):
        await KeyStore(database["keys"], MasterKeyCipher(b"x" * 32)).active_key(TENANT)


@pytest.mark.integration
async def test_one_credential_per_award_under_redelivery(database: AsyncDatabase[Any]) -> None:
    publisher = RecordingPublisher()
    issuer = Issuer(
        database,
        publisher,
        MasterKeyCipher(MASTER),
        "https://issuer.example.org",
        CREDENTIAL_ID_KEY,
    )
    await issuer.ensure_indexes()
    await issuer.register(TENANT, name="Instituto A", country="PT", competences=["c-1"])
    event = Envelope.wrap(award(), source="/tests", subject="award-1", tenant=TENANT)

    for _ in range(3):
        await issuer.on_competence_awarded(event)

    assert await issuer.credentials.count_documents({}) == 1
    [issued] = publisher.events(topics.CREDENTIAL_ISSUED)
    # The id is the award's, under the key derived from the issuer's master key.
    assert issued["data"]["credential_id"] == credential_id_for(CREDENTIAL_ID_KEY, "award-1")
    assert issued["data"]["credential"]["id"] == issued["data"]["credential_id"]
    verdict = await issuer.verify(issued["data"]["credential_jwt"])
    assert verdict["verified"] is True
    assert verdict["checks"]["issuer"] == issuer.did(TENANT)
