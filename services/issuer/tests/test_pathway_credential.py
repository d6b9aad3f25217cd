"""A completed pathway's credential: its contents; signed once, by the awarding institution."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc.jws import extract_compact
from pymongo.asynchronous.database import AsyncDatabase

from microcred_issuer.credential import (
    VerificationError,
    build_credential,
    build_pathway_credential,
    institution_did,
    verify_jwt,
)
from microcred_issuer.dataintegrity import unsecured
from microcred_issuer.handlers import Issuer
from microcred_issuer.keys import public_key_from_multibase
from microcred_shared.contracts import topics
from microcred_shared.crypto import MasterKeyCipher
from microcred_shared.testing.fakes import RecordingPublisher
from services.issuer.tests.samples import (
    AWARDING,
    CREDENTIAL_ID_KEY,
    MASTER,
    PARTNER,
    PUBLIC_URL,
    LegacyIssuer,
    competence_award,
    credential_id_of,
    legacy_credential_id,
    onboard,
    pathway_award,
)

ISSUED_AT = datetime(2026, 3, 3, tzinfo=UTC)


def did(institution_id: str) -> str:
    return institution_did(PUBLIC_URL, institution_id)


def pathway_credential() -> dict[str, Any]:
    award = pathway_award("award-p").data
    return build_pathway_credential(
        award,
        credential_id_of("award-p"),
        did(AWARDING),
        ISSUED_AT,
        did_of=did,
        credential_id_of=credential_id_of,
    )


@pytest.mark.unit
def test_the_pathway_is_the_achievement_with_the_eu_elements() -> None:
    credential = pathway_credential()

    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["issuer"]["id"] == did(AWARDING)
    assert credential["issuer"]["address"]["addressCountryCode"] == "PT"
    assert credential["name"] == "Digital Skills Certificate"
    achievement = credential["credentialSubject"]["achievement"]
    # What tells a pathway's credential from a competence's.
    assert achievement["achievementType"] == "Certificate"
    assert achievement["humanCode"] == "p-digital"
    assert achievement["id"].endswith(":institutions:inst-a:pathways:p-digital")
    assert achievement["name"] == "Digital Skills Certificate"
    assert [r["name"] for r in achievement["resultDescription"]] == [
        "Create digital content",
        "Analyse data",
    ]
    assert achievement["fieldOfStudy"] == "ISCED-F 0612"
    assert {(a["targetType"], a["targetCode"]) for a in achievement["alignment"]} == {
        ("ext:EQFLevel", "5"),
        ("ext:NQFLevel", "5"),
    }
    assert credential["credentialSubject"]["creditsEarned"] == achievement["creditsAvailable"] == 6
    narrative = achievement["criteria"]["narrative"]
    for element in ("all 2 micro-credentials", "Portfolio of the stacked", "Blended", "ESG 2015"):
        assert element in narrative
    assert "ada@example.org" not in json.dumps(credential)


@pytest.mark.unit
def test_the_stacked_credentials_are_its_evidence_a_partners_included() -> None:
    evidence = pathway_credential()["evidence"]

    assert [e["id"] for e in evidence] == [
        credential_id_of("award-own"),
        credential_id_of("award-partner"),
    ]
    assert [e["name"] for e in evidence] == ["Developing digital content", "Analysing data"]
    assert {e["genre"] for e in evidence} == {"Stacked micro-credential"}
    own, partner = evidence
    assert did(AWARDING) in own["narrative"]
    assert "Instituto A" in own["description"]
    assert did(PARTNER) in partner["narrative"]
    assert did(AWARDING) not in partner["narrative"]
    assert "Hochschule B" in partner["description"]


@pytest.mark.unit
def test_a_competence_credential_is_no_pathway_credential() -> None:
    award = competence_award("award-c").data
    credential = build_credential(award, credential_id_of("award-c"), did(AWARDING), ISSUED_AT)
    achievement = credential["credentialSubject"]["achievement"]

    assert achievement["achievementType"] == "MicroCredential"
    assert ":competences:" in achievement["id"]


@pytest.mark.integration
async def test_pathway_credential_is_issued_once_signed_by_the_awarding_institution(
    database: AsyncDatabase[Any],
) -> None:
    publisher = RecordingPublisher()
    issuer = Issuer(database, publisher, MasterKeyCipher(MASTER), PUBLIC_URL, CREDENTIAL_ID_KEY)
    await issuer.ensure_indexes()
    await onboard(issuer)
    # The stacked awards' own credentials: one by the awarding institution, one by a partner.
    await issuer.on_competence_awarded(competence_award("award-own", competence_id="c-content"))
    await issuer.on_competence_awarded(
        competence_award("award-partner", tenant=PARTNER, competence_id="c-data")
    )
    event = pathway_award("award-p")

    for _ in range(3):
        await issuer.on_pathway_awarded(event)

    issued = [
        document
        for topic, _, document in publisher.published
        if topic == topics.CREDENTIAL_ISSUED and document["data"]["award_id"] == "award-p"
    ]
    assert len(issued) == 1
    data = issued[0]["data"]
    assert issued[0]["tenant"] == AWARDING
    assert data["credential_id"] == credential_id_of("award-p")
    assert data["achievement_title"] == "Digital Skills Certificate"
    assert data["institution"]["id"] == AWARDING
    assert data["credential"]["credentialSubject"]["achievement"]["achievementType"] == (
        "Certificate"
    )
    assert await issuer.credentials.count_documents({"_id": "award-p"}) == 1

    # The stacked references name the credentials the issuer really issued for those awards.
    stacked_ids = [e["id"] for e in data["credential"]["evidence"]]
    own_stored = await issuer.credentials.find_one({"_id": "award-own"})
    partner_stored = await issuer.credentials.find_one({"_id": "award-partner"})
    assert own_stored is not None
    assert partner_stored is not None
    assert stacked_ids == [own_stored["credential_id"], partner_stored["credential_id"]]
    assert stacked_ids == [credential_id_of("award-own"), credential_id_of("award-partner")]
    partner_credential = await issuer.credential(partner_stored["credential_id"])
    assert partner_credential is not None
    assert partner_credential["credential"]["issuer"]["id"] == did(PARTNER)

    # Signed with the awarding institution's key, not the partner's.
    token = data["credential_jwt"]
    kid = str(extract_compact(token.encode()).headers()["kid"])
    assert kid.startswith(did(AWARDING) + "#")
    [awarding_key] = await issuer.keys.public_keys(AWARDING)
    [partner_key] = await issuer.keys.public_keys(PARTNER)
    # The VC-JWT secures the credential the event carries, less its Data Integrity proof.
    assert verify_jwt(token, public_key_from_multibase(awarding_key.public_multibase)) == unsecured(
        data["credential"]
    )
    with pytest.raises(VerificationError):
        verify_jwt(token, public_key_from_multibase(partner_key.public_multibase))
    verdict = await issuer.verify(token)
    assert verdict["verified"] is True
    assert verdict["checks"] == {
        "signature": True,
        "issuer": did(AWARDING),
        "status": "active",
        "dates": True,
    }


@pytest.mark.integration
async def test_a_stacked_credential_is_named_by_its_stored_id_even_one_issued_before_keyed_ids(
    issuer: Issuer,
) -> None:
    legacy = LegacyIssuer(
        issuer.database, issuer.publisher, issuer.cipher, PUBLIC_URL, CREDENTIAL_ID_KEY
    )
    await legacy.on_competence_awarded(competence_award("award-own", competence_id="c-content"))
    # The partner's credential is not issued yet: named by the id it will be issued with.
    await issuer.on_pathway_awarded(pathway_award("award-p"))
    await issuer.on_competence_awarded(
        competence_award("award-partner", tenant=PARTNER, competence_id="c-data")
    )

    stored = await issuer.credentials.find_one({"_id": "award-p"})
    assert stored is not None
    assert stored["credential_id"] == credential_id_of("award-p")
    evidence_ids = [e["id"] for e in stored["credential"]["evidence"]]
    assert evidence_ids == [legacy_credential_id("award-own"), credential_id_of("award-partner")]
    for evidence_id in evidence_ids:
        stacked = await issuer.credential(evidence_id)
        assert stacked is not None
        assert stacked["credential"]["id"] == evidence_id
    assert (await issuer.verify(stored["credential"]))["verified"] is True
