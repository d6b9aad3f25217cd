"""Issued credentials carry both proofs, and verify here and with third-party verifiers.

The Data Integrity proof (eddsa-rdfc-2022, in a ``proof`` array) and the VC-JWT of competence
and pathway credentials: 1EdTech's strict JSON Schema, the platform's verifier (and what it says
of each tampering), and Digital Bazaar's VC library and ``jose`` on Node.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jsonschema import Draft201909Validator

from microcred_issuer.credential import (
    build_credential,
    did_document,
    institution_did,
)
from microcred_issuer.dataintegrity import ProofOptions, sign, unsecured
from microcred_issuer.handlers import Issuer
from microcred_issuer.keys import SigningKey
from microcred_shared.contracts import topics
from microcred_shared.testing.fakes import RecordingPublisher
from services.issuer.tests.samples import (
    AWARDING,
    PARTNER,
    PUBLIC_URL,
    competence_award,
    credential_id_of,
    pathway_award,
    revocation,
)
from services.issuer.tests.thirdparty import third_party_verify
from services.issuer.tests.vectors import read_vector

SCHEMA = Draft201909Validator(
    read_vector("ob_v3p0_achievementcredential_schema.json"),
    format_checker=Draft201909Validator.FORMAT_CHECKER,
)


async def issued(issuer: Issuer, kind: str) -> dict[str, Any]:
    """The credential-issued event's data for a competence or a pathway award."""
    if kind == "competence":
        await issuer.on_competence_awarded(competence_award("award-1"))
        award_id = "award-1"
    else:
        await issuer.on_pathway_awarded(pathway_award("award-p"))
        award_id = "award-p"
    assert isinstance(issuer.publisher, RecordingPublisher)
    [event] = [
        e
        for e in issuer.publisher.events(topics.CREDENTIAL_ISSUED)
        if e["data"]["award_id"] == award_id
    ]
    data: dict[str, Any] = event["data"]
    return data


async def controller(http: httpx.AsyncClient, institution_id: str) -> dict[str, Any]:
    """The institution's DID document, as anyone resolving its did:web gets it."""
    answer = await http.get(f"/institutions/{institution_id}/did.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def schema_errors(credential: dict[str, Any]) -> list[str]:
    """1EdTech's strict schema's complaints, but one: ``credentialStatus`` as an array.

    OBv3.0 allows a single ``credentialStatus`` (``[0..1]``); VC 2.0 allows several, and the
    credential needs two (revocation and suspension, each its own BitstringStatusListEntry, as
    the Bitstring Status List spec's own example does; 1EdTech's issue #623 proposes the same
    for OBv3.1). So the array is checked entry by entry: with each entry alone in its place the
    credential must fit the schema, and nothing else may be wrong.
    """
    entries = credential.get("credentialStatus")
    if not isinstance(entries, list):
        return [f"{list(e.absolute_path)}: {e.message}" for e in SCHEMA.iter_errors(credential)]
    assert [e["statusPurpose"] for e in entries] == ["revocation", "suspension"]
    errors = []
    for entry in entries:
        alone = {**credential, "credentialStatus": entry}
        errors += [f"{list(e.absolute_path)}: {e.message}" for e in SCHEMA.iter_errors(alone)]
    return errors


async def status_lists(http: httpx.AsyncClient, institution_id: str) -> list[dict[str, Any]]:
    """The institution's status list credentials, as a verifier fetches them."""
    lists = []
    for purpose in ("revocation", "suspension"):
        answer = await http.get(f"/institutions/{institution_id}/status/{purpose}")
        assert answer.status_code == 200, answer.text
        lists.append(answer.json())
    return lists


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["competence", "pathway"])
async def test_issued_credentials_carry_a_data_integrity_proof_and_fit_the_strict_schema(
    issuer: Issuer, http: httpx.AsyncClient, kind: str
) -> None:
    data = await issued(issuer, kind)
    credential = data["credential"]

    [proof] = credential["proof"]  # an array, as 1EdTech's schema requires
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["verificationMethod"] == data["verification_method"]
    assert proof["verificationMethod"].startswith(issuer.did(AWARDING) + "#")
    assert proof["created"] == credential["validFrom"]
    assert proof["proofValue"].startswith("z")
    assert schema_errors(credential) == []
    # What is stored is what was published.
    stored = await issuer.credential(data["credential_id"])
    assert stored is not None
    assert stored["credential"] == credential

    verdict = (await http.post("/verify", json={"credential": credential})).json()
    assert verdict["verified"] is True, verdict
    assert verdict["format"] == "data-integrity"
    assert verdict["checks"] == {
        "signature": True,
        "issuer": issuer.did(AWARDING),
        "status": "active",
        "dates": True,
    }
    jwt_verdict = await http.post("/verify", json={"credential_jwt": data["credential_jwt"]})
    assert jwt_verdict.json()["verified"] is True
    assert jwt_verdict.json()["format"] == "vc-jwt"


@pytest.mark.integration
def test_the_strict_schema_has_teeth() -> None:
    """The vector's single proof object fails it: proofs must come as an array."""
    signed = read_vector("1edtech-obv3-signed.json")
    assert any(list(e.absolute_path) == ["proof"] for e in SCHEMA.iter_errors(signed))
    as_array = {**signed, "proof": [signed["proof"]]}
    assert list(SCHEMA.iter_errors(as_array)) == []


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["competence", "pathway"])
async def test_issued_credentials_verify_with_third_party_verifiers(
    issuer: Issuer, http: httpx.AsyncClient, kind: str, tmp_path: Path
) -> None:
    data = await issued(issuer, kind)
    controllers = [await controller(http, AWARDING)]
    lists = await status_lists(http, AWARDING)

    result = third_party_verify(
        tmp_path,
        controllers=controllers,
        credential=data["credential"],
        jwt=data["credential_jwt"],
        status_lists=lists,
    )

    # Its status entries checked too: each list's proof, its issuer, and the bit (clear).
    assert result["dataIntegrity"] == {
        "verified": True,
        "error": None,
        "status": {"revocation": False, "suspension": False},
    }
    assert result["jwt"]["verified"] is True, result["jwt"]
    # OBv3's VC-JWT header: alg, kid, jwk and typ only, typ "JWT".
    assert result["jwt"]["header"] == {
        "alg": "EdDSA",
        "kid": data["verification_method"],
        "typ": "JWT",
    }
    assert result["jwt"]["credential"] == unsecured(data["credential"])

    tampered = copy.deepcopy(data["credential"])
    tampered["credentialSubject"]["achievement"]["name"] += " (with honours)"
    head, payload, signature = data["credential_jwt"].split(".")
    forged_jwt = f"{head}.{payload[:-2]}AA.{signature}"
    result = third_party_verify(
        tmp_path, controllers=controllers, credential=tampered, jwt=forged_jwt, status_lists=lists
    )
    assert result["dataIntegrity"]["verified"] is False
    assert "signature" in result["dataIntegrity"]["error"].lower()
    assert result["jwt"]["verified"] is False


@pytest.mark.integration
async def test_a_credential_signed_by_another_key_fails_third_party_verification(
    issuer: Issuer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    data = await issued(issuer, "competence")
    method = data["verification_method"]
    forged = sign(
        unsecured(data["credential"]),
        Ed25519PrivateKey.generate(),
        ProofOptions(method, datetime.now(UTC).replace(microsecond=0)),
    )
    result = third_party_verify(
        tmp_path,
        controllers=[await controller(http, AWARDING)],
        credential=forged,
        status_lists=await status_lists(http, AWARDING),
    )
    assert result["dataIntegrity"]["verified"] is False


@pytest.mark.unit
def test_rdfc_escaping_agrees_with_a_third_party_verifier(tmp_path: Path) -> None:
    """Text with characters only RDFC-1.0's full escaping covers verifies elsewhere too."""
    did = institution_did(PUBLIC_URL, AWARDING)
    key = SigningKey(AWARDING, "key-1", Ed25519PrivateKey.generate())
    award = competence_award("award-ctl").data
    credential = build_credential(
        award, credential_id_of("award-ctl"), did, datetime.now(UTC).replace(microsecond=0)
    )
    credential["name"] = "Bell\x07 backspace\b form feed\f escape\x1b delete\x7f tab\t end"
    credential["credentialSubject"]["achievement"]["description"] = "\x01\x02\x0b\x0e\x1f"
    method = f"{did}#key-1"
    signed = sign(credential, key.private_key, ProofOptions(method, datetime.now(UTC)))

    result = third_party_verify(tmp_path, controllers=[did_document(did, [key])], credential=signed)
    assert result["dataIntegrity"] == {"verified": True, "error": None, "status": None}


# --- the platform's verifier: each failure named --------------------------------------------


async def verify_json(http: httpx.AsyncClient, credential: dict[str, Any]) -> dict[str, Any]:
    answer = await http.post("/verify", json={"credential": credential})
    assert answer.status_code == 200, answer.text
    verdict: dict[str, Any] = answer.json()
    assert verdict["verified"] is False
    return verdict


@pytest.mark.integration
async def test_verification_names_the_check_that_failed(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    data = await issued(issuer, "competence")
    credential = data["credential"]
    method = data["verification_method"]
    plain = unsecured(credential)
    now = datetime.now(UTC).replace(microsecond=0)

    # Tampered: the proof no longer covers what it says.
    tampered = copy.deepcopy(credential)
    tampered["credentialSubject"]["creditsEarned"] = 30.0
    verdict = await verify_json(http, tampered)
    assert verdict["failed"] == "signature"
    assert verdict["checks"]["signature"] is False

    # Signed by a wrong key, in the institution's name.
    wrong_key = sign(plain, Ed25519PrivateKey.generate(), ProofOptions(method, now))
    assert (await verify_json(http, wrong_key))["failed"] == "signature"

    # An undefined term slipped in after signing (PyLD alone would ignore it).
    verdict = await verify_json(http, {**credential, "grade": "A+"})
    assert verdict["failed"] == "signature"
    assert "grade" in verdict["error"]

    # No proof at all.
    verdict = await verify_json(http, plain)
    assert verdict["failed"] == "signature"
    assert "DataIntegrityProof" in verdict["error"]

    # Unknown issuer: a DID that is none of the platform's institutions.
    elsewhere = sign(
        plain,
        Ed25519PrivateKey.generate(),
        ProofOptions("did:web:elsewhere.example#key-1", now),
    )
    verdict = await verify_json(http, elsewhere)
    assert verdict["failed"] == "issuer"
    assert verdict["error"] == "unknown issuer"

    # Signed with another institution's own key: the key does not belong to the issuer.
    partner_key = await issuer.keys.active_key(PARTNER)
    partner_method = f"{issuer.did(PARTNER)}#{partner_key.key_id}"
    verdict = await verify_json(
        http, sign(plain, partner_key.private_key, ProofOptions(partner_method, now))
    )
    assert verdict["failed"] == "issuer"
    assert verdict["error"] == "issuer differs from signer"

    # Dates: not valid yet, or expired (signed properly by the institution itself).
    own_key = await issuer.keys.active_key(AWARDING)
    for field, moment, words in (
        ("validFrom", now + timedelta(days=2), "not valid yet"),
        ("validUntil", now - timedelta(days=1), "expired"),
    ):
        dated = {**plain, field: moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
        verdict = await verify_json(
            http, sign(dated, own_key.private_key, ProofOptions(method, now))
        )
        assert verdict["failed"] == "dates"
        assert verdict["checks"]["dates"] is False
        assert verdict["checks"]["signature"] is True
        assert words in verdict["error"]

    # Revoked.
    await issuer.on_award_revoked(revocation("award-1"))
    verdict = await verify_json(http, credential)
    assert verdict["failed"] == "status"
    assert verdict["checks"]["status"] == "revoked"
    assert verdict["checks"]["signature"] is True


@pytest.mark.integration
async def test_malformed_requests_are_refused_not_answered_unverified(
    http: httpx.AsyncClient,
) -> None:
    # The VC-API's verifier: input that is no credential is refused, never "unverified".
    for body in (
        {},
        {"credential": {"id": "x"}},
        {"verifiableCredential": "not an object"},
        {"verifiableCredential": {"id": "x"}},
        {"verifiableCredential": {"@context": [], "type": ["VerifiableCredential"]}},
    ):
        answer = await http.post("/credentials/verify", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["errors"], answer.text
    answer = await http.post(
        "/credentials/verify",
        content=b'{"verifiableCredential": {',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    # ``POST /verify``: the same, as problem details.
    for body in ({}, {"credential": "not an object"}, {"credential": {"id": "x"}}):
        answer = await http.post("/verify", json=body)
        assert answer.status_code == 422, (body, answer.text)
