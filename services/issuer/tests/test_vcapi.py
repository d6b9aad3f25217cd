"""The W3C VC-API on the real issuer app: issue, verify credentials, verify presentations.

Route tests over the real database with intake-style bearer tokens (signed by a test key the
app trusts). What is issued verifies here and with Digital Bazaar's verifier (``thirdparty``);
a failed verification or bad input is a 400/422 with ``errors``, never a 200.
"""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import base58
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from microcred_issuer.credential import (
    did_key,
    did_key_document,
    did_key_method,
    institution_did,
    public_key_of_did_key,
)
from microcred_issuer.dataintegrity import (
    CanonicalizationLimitError,
    ProofOptions,
    canonicalize,
    create_proof,
    hash_data,
    sign,
    verify_proof,
)
from microcred_issuer.handlers import Issuer
from microcred_issuer.statuslist import StatusEntry
from microcred_issuer.vcdm import credential_errors
from services.issuer.tests.callers import token
from services.issuer.tests.samples import AWARDING, PARTNER, PUBLIC_URL
from services.issuer.tests.thirdparty import third_party_verify

VC_V2 = "https://www.w3.org/ns/credentials/v2"
EXAMPLES = "https://www.w3.org/ns/credentials/examples/v2"
VC_1_1 = "https://www.w3.org/2018/credentials/v1"
DATA_INTEGRITY = "https://w3id.org/security/data-integrity/v2"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


ADMIN = token((AWARDING, "institution_admin"))


def unsigned(issuer: Any, **extra: Any) -> dict[str, Any]:
    return {
        "@context": [VC_V2, EXAMPLES],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "issuer": issuer,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:alumna", "alumniOf": "Example University"},
        **extra,
    }


async def issue(
    http: httpx.AsyncClient, credential: dict[str, Any], headers: dict[str, str] = ADMIN
) -> httpx.Response:
    return await http.post(
        "/credentials/issue", json={"credential": credential, "options": {}}, headers=headers
    )


async def institution_key(issuer: Issuer, institution_id: str = AWARDING) -> str:
    """The ``did:key`` of the institution's active key."""
    key = await issuer.keys.active_key(institution_id)
    return did_key(key.private_key.public_key())


async def verify(http: httpx.AsyncClient, credential: Any) -> httpx.Response:
    return await http.post(
        "/credentials/verify", json={"verifiableCredential": credential, "options": {}}
    )


# --- did:key -------------------------------------------------------------------------------------


def test_a_did_key_names_its_ed25519_key_and_only_that() -> None:
    public_key = Ed25519PrivateKey.generate().public_key()
    did = did_key(public_key)
    assert did.startswith("did:key:z6Mk")
    method = did_key_method(public_key)
    assert method == f"{did}#{did.removeprefix('did:key:')}"
    assert public_key_of_did_key(did) == public_key
    assert public_key_of_did_key(method) == public_key
    document = did_key_document(public_key)
    assert document["assertionMethod"] == [method]
    other = did_key(Ed25519PrivateKey.generate().public_key())
    for bad in (f"{did}#{other.removeprefix('did:key:')}", "did:key:", "did:web:x", "did:key:zQ3s"):
        with pytest.raises(ValueError):  # noqa: PT011 - each with its own message
            public_key_of_did_key(bad)


# --- issuing -------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_issue_signs_for_the_did_web_with_status_and_verifies_everywhere(
    http: httpx.AsyncClient, issuer: Issuer, tmp_path: Path
) -> None:
    did = institution_did(PUBLIC_URL, AWARDING)
    answer = await issue(http, unsigned({"id": did, "name": "Instituto A"}))
    assert answer.status_code == 201, answer.text
    vc = answer.json()["verifiableCredential"]
    proof = vc["proof"]
    assert isinstance(proof, dict)  # one proof: an object, as the VC-API's suites expect
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["verificationMethod"].startswith(did + "#")
    assert {e["statusPurpose"] for e in vc["credentialStatus"]} == {"revocation", "suspension"}

    verdict = await verify(http, vc)
    assert verdict.status_code == 200, verdict.text
    assert verdict.json() == {
        "checks": ["proof", "credentialStatus", "validity"],
        "warnings": [],
        "errors": [],
    }
    # The platform's own verifier says the same.
    assert (await http.post("/verify", json=vc)).json()["verified"] is True

    controller = (await http.get(f"/institutions/{AWARDING}/did.json")).json()
    lists = [
        (await http.get(f"/institutions/{AWARDING}/status/{p}")).json()
        for p in ("revocation", "suspension")
    ]
    result = third_party_verify(
        tmp_path, controllers=[controller], credential=vc, status_lists=lists
    )
    assert result["dataIntegrity"]["verified"] is True, result
    assert result["dataIntegrity"]["status"] == {"revocation": False, "suspension": False}


async def test_issue_for_an_institution_not_registered_at_the_issuer_is_422(
    http: httpx.AsyncClient, issuer: Issuer
) -> None:
    newcomer = "inst-unregistered"
    did = institution_did(PUBLIC_URL, newcomer)
    answer = await issue(
        http, unsigned({"id": did}), headers=token((newcomer, "institution_admin"))
    )
    assert answer.status_code == 422, answer.text
    assert f"unknown institution {newcomer}: not onboarded at the issuer" in answer.text
    assert await issuer.database["keys"].count_documents({"institution_id": newcomer}) == 0


@pytest.mark.integration
async def test_issue_signs_for_the_did_key_of_the_active_key(
    http: httpx.AsyncClient, issuer: Issuer, tmp_path: Path
) -> None:
    did = await institution_key(issuer)
    answer = await issue(http, unsigned(did))
    assert answer.status_code == 201, answer.text
    vc = answer.json()["verifiableCredential"]
    assert vc["proof"]["verificationMethod"] == f"{did}#{did.removeprefix('did:key:')}"
    assert "credentialStatus" not in vc  # its lists are the did:web's, not the did:key's
    verify_proof(vc, vc["proof"], public_key_of_did_key(did))
    verdict = await verify(http, vc)
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["checks"] == ["proof", "validity"]

    controller = did_key_document(public_key_of_did_key(did))
    result = third_party_verify(tmp_path, controllers=[controller], credential=vc)
    assert result["dataIntegrity"]["verified"] is True, result

    # A proof given with the credential is kept; the issuer's joins it in an array.
    proved = unsigned(did, proof={"type": "ExampleProof", "created": "2026-01-01T00:00:00Z"})
    proved["@context"] = [VC_V2, EXAMPLES]
    answer = await issue(http, proved)
    assert answer.status_code == 201, answer.text
    proofs = answer.json()["verifiableCredential"]["proof"]
    assert [p["type"] for p in proofs] == ["ExampleProof", "DataIntegrityProof"]


@pytest.mark.integration
async def test_only_the_institutions_admins_and_platform_admins_issue(
    http: httpx.AsyncClient, issuer: Issuer
) -> None:
    credential = unsigned(institution_did(PUBLIC_URL, AWARDING))
    assert (await issue(http, credential, headers={})).status_code == 401
    bad_token = {"Authorization": "Bearer not-a-token"}
    assert (await issue(http, credential, headers=bad_token)).status_code == 401
    for headers in (
        token((AWARDING, "learner")),
        token((AWARDING, "evaluator")),
        token((PARTNER, "institution_admin")),
        token(),
    ):
        answer = await issue(http, credential, headers=headers)
        assert answer.status_code == 403, answer.text
    # The other institution's admin may not sign with this one's did:key either.
    by_key = unsigned(await institution_key(issuer))
    answer = await issue(http, by_key, headers=token((PARTNER, "institution_admin")))
    assert answer.status_code == 403, answer.text
    # The platform admin holds every role, by either identifier.
    platform_admin = token(platform_admin=True)
    assert (await issue(http, credential, headers=platform_admin)).status_code == 201
    assert (await issue(http, by_key, headers=platform_admin)).status_code == 201


@pytest.mark.integration
async def test_an_issuer_that_is_not_one_of_ours_is_refused(
    http: httpx.AsyncClient, issuer: Issuer
) -> None:
    stranger = did_key(Ed25519PrivateKey.generate().public_key())
    for named in (
        "did:example:issuer",
        "https://example.org/issuers/1",
        "did:web:elsewhere.example:institutions:inst-a",
        stranger,
        {"id": "did:example:issuer", "name": "Someone"},
    ):
        answer = await issue(http, unsigned(named))
        assert answer.status_code == 422, (named, answer.text)
        body = answer.json()
        assert body["title"] == "Unknown issuer", body
        assert body["errors"], body
    # A retired key's did:key is refused too: only the active key signs.
    current = await institution_key(issuer)
    await issuer.keys.rotate(AWARDING)
    answer = await issue(http, unsigned(current))
    assert answer.status_code == 422, answer.text
    assert "active" in answer.json()["detail"]


#: Credentials the VC Data Model 2.0 forbids, each with the words of the error it gets.
INVALID: list[tuple[str, Any, str]] = [
    ("no @context", {"@context": None}, "@context"),
    ("examples before base context", {"@context": [EXAMPLES, VC_V2]}, "first @context"),
    ("an object as the first context", {"@context": [{"@vocab": "x:"}, VC_V2]}, "first @context"),
    ("a number among the contexts", {"@context": [VC_V2, 12]}, "@context"),
    ("an unbundled context", {"@context": [VC_V2, "https://example.org/ctx"]}, "context"),
    ("no type", {"type": None}, "type is required"),
    ("type without VerifiableCredential", {"type": ["ExampleCredential"]}, "type must include"),
    ("an undefined type", {"@context": [VC_V2], "type": ["VerifiableCredential", "Nope"]}, "Nope"),
    ("id not a URL", {"id": "not a url"}, "id must be a single URL"),
    ("id null", {"id": ...}, "id must be"),
    ("several ids", {"id": ["urn:uuid:1", "urn:uuid:2"]}, "id must be"),
    ("no issuer", {"issuer": None}, "issuer is required"),
    ("issuer not a URL", {"issuer": "issuer"}, "issuer must be a URL"),
    ("issuer object without id", {"issuer": {"name": "x"}}, "issuer.id"),
    ("no credentialSubject", {"credentialSubject": None}, "credentialSubject is required"),
    ("empty credentialSubject", {"credentialSubject": {}}, "at least one claim"),
    ("empty subjects", {"credentialSubject": [{}, {}]}, "at least one claim"),
    ("validFrom without timezone", {"validFrom": "2026-01-01T00:00:00"}, "dateTimeStamp"),
    ("validFrom not a date", {"validFrom": "yesterday"}, "dateTimeStamp"),
    ("validUntil before validFrom", {"validUntil": "2025-01-01T00:00:00Z"}, "before validFrom"),
    ("credentialStatus without type", {"credentialStatus": {"id": "urn:x"}}, "type is required"),
    ("credentialStatus type a number", {"credentialStatus": {"type": 2}}, "credentialStatus.type"),
    ("credentialSchema without id", {"credentialSchema": {"type": "JsonSchema"}}, "id is required"),
    ("evidence without type", {"evidence": [{"id": "urn:x"}]}, "evidence.type"),
    ("termsOfUse without type", {"termsOfUse": {"id": "urn:x"}}, "termsOfUse.type"),
    ("refreshService without type", {"refreshService": {"id": "urn:x"}}, "refreshService.type"),
    ("proof without type", {"proof": {"proofValue": "z1"}}, "proof.type"),
    ("name with an extra member", {"name": {"@value": "A", "url": "x"}}, "language value"),
    ("description not text", {"description": 12}, "description"),
    ("bad @direction", {"name": {"@value": "A", "@direction": "up"}}, "@direction"),
    ("an undefined term", {"@context": [VC_V2], "nickname": "x"}, "nickname"),
    ("relatedResource a string", {"relatedResource": ["https://example.org/r"]}, "an object"),
    ("relatedResource without id", {"relatedResource": {"digestSRI": "sha384-x"}}, ".id"),
    ("relatedResource without digest", {"relatedResource": {"id": "https://e.org/r"}}, "digest"),
    (
        "relatedResource with a wrong digest of a published resource",
        {
            "relatedResource": {
                "id": "https://www.w3.org/ns/credentials/v2",
                "digestMultibase": "uM4RgWQc3RUDtjJCSgTJtTfvpZ7SPEg_LNO0ESlovQC0",
            }
        },
        "not its published digest",
    ),
    (
        "relatedResource twice",
        {"relatedResource": [{"id": "https://e.org/r", "digestSRI": "sha384-x"}] * 2},
        "given twice",
    ),
    ("VC 1.1 without issuanceDate", {"@context": [VC_1_1]}, "issuanceDate is required"),
]


@pytest.mark.parametrize(("case", "change", "words"), INVALID, ids=[c[0] for c in INVALID])
def test_the_data_model_rules_find_each_invalid_credential(
    case: str, change: dict[str, Any], words: str
) -> None:
    credential = _changed(unsigned("did:example:issuer"), change)
    if case in {"an unbundled context", "an undefined type", "an undefined term"}:
        assert credential_errors(credential) == []  # the JSON-LD processing finds these
    else:
        assert any(words in e for e in credential_errors(credential)), credential_errors(credential)


def _changed(credential: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    changed = copy.deepcopy(credential)
    for member, value in change.items():
        if value is None:
            changed.pop(member, None)
        elif value is ...:
            changed[member] = None
        else:
            changed[member] = value
    return changed


@pytest.mark.integration
async def test_invalid_credentials_are_refused_before_signing(
    http: httpx.AsyncClient, issuer: Issuer
) -> None:
    base = unsigned(await institution_key(issuer))
    for case, change, words in INVALID:
        if case == "no issuer" or case.startswith(("issuer", "VC 1.1")):
            continue  # without an issuer of ours there is no institution to sign for
        answer = await issue(http, _changed(base, change))
        assert answer.status_code == 422, (case, answer.text)
        body = answer.json()
        assert words in body["detail"], (case, body)
        assert body["errors"], (case, body)
    for case in ("no issuer", "issuer not a URL", "issuer object without id"):
        change = next(c for name, c, _ in INVALID if name == case)
        answer = await issue(http, _changed(base, change))
        assert answer.status_code == 422, (case, answer.text)
    answer = await http.post("/credentials/issue", json={"verifiableCredential": {}}, headers=ADMIN)
    assert answer.status_code == 400
    answer = await http.post(
        "/credentials/issue",
        content=b"{",
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert answer.status_code == 400


# --- verifying ---------------------------------------------------------------------------------


def self_signed(private_key: Ed25519PrivateKey, **extra: Any) -> dict[str, Any]:
    """A credential someone else issued with their own did:key."""
    public_key = private_key.public_key()
    credential = unsigned(did_key(public_key), **extra)
    proof = create_proof(credential, private_key, ProofOptions(did_key_method(public_key), NOW))
    return {**credential, "proof": proof}


@pytest.mark.integration
async def test_verify_answers_200_only_when_every_check_passes(
    http: httpx.AsyncClient, issuer: Issuer
) -> None:
    # Anyone's did:key credential verifies: the key is in the DID.
    private_key = Ed25519PrivateKey.generate()
    theirs = self_signed(private_key)
    answer = await verify(http, theirs)
    assert answer.status_code == 200, answer.text
    assert answer.json()["errors"] == []

    failures: dict[str, dict[str, Any]] = {}
    tampered = copy.deepcopy(theirs)
    tampered["credentialSubject"]["alumniOf"] = "Another University"
    failures["signature"] = tampered
    failures["not the issuer's key"] = {
        **theirs,
        "issuer": did_key(Ed25519PrivateKey.generate().public_key()),
    }
    foreign = unsigned("did:example:issuer")
    failures["unsupported DID method"] = sign(
        foreign,
        private_key,
        ProofOptions("did:example:issuer#key-1", NOW),
    )
    failures["no DataIntegrityProof"] = unsigned(did_key(private_key.public_key()))
    failures["expired"] = self_signed(private_key, validUntil="2026-01-02T00:00:00Z")
    failures["not a conforming credential"] = {**theirs, "credentialSubject": {}}
    for words, credential in failures.items():
        answer = await verify(http, credential)
        assert answer.status_code == 400, (words, answer.text)
        body = answer.json()
        assert body["errors"], (words, body)
        detail = body["errors"][0]["detail"]
        assert words.split()[0] in detail or words in detail, (words, detail)

    # A suspended credential of ours fails its status check; lifted, it verifies again.
    did = institution_did(PUBLIC_URL, AWARDING)
    vc = (await issue(http, unsigned(did))).json()["verifiableCredential"]
    entry = next(e for e in vc["credentialStatus"] if e["statusPurpose"] == "suspension")
    at = StatusEntry(0, int(entry["statusListIndex"]))
    await issuer.status_lists.set_bit(AWARDING, "suspension", at)
    answer = await verify(http, vc)
    assert answer.status_code == 400, answer.text
    assert "suspended" in answer.json()["errors"][0]["detail"]
    await issuer.status_lists.clear_bit(AWARDING, "suspension", at)
    assert (await verify(http, vc)).status_code == 200


# --- presentations -----------------------------------------------------------------------------


def presentation(
    holder_key: Ed25519PrivateKey,
    credentials: list[dict[str, Any]],
    *,
    challenge: str = "c-123",
    domain: str = "verifier.example",
    purpose: str = "authentication",
) -> dict[str, Any]:
    public_key = holder_key.public_key()
    document = {
        "@context": [VC_V2],
        "type": ["VerifiablePresentation"],
        "holder": did_key(public_key),
        "verifiableCredential": credentials,
    }
    options = ProofOptions(did_key_method(public_key), NOW, proof_purpose=purpose)
    proof = {**options.as_proof(), "challenge": challenge, "domain": domain}
    # The proof's options (challenge and domain included) are what is signed.
    signature = holder_key.sign(hash_data(document, proof))
    proof["proofValue"] = "z" + base58.b58encode(signature).decode()
    return {**document, "proof": proof}


async def verify_vp(
    http: httpx.AsyncClient, vp: Any, challenge: str = "c-123", domain: str = "verifier.example"
) -> httpx.Response:
    return await http.post(
        "/presentations/verify",
        json={"verifiablePresentation": vp, "options": {"challenge": challenge, "domain": domain}},
    )


@pytest.mark.integration
async def test_presentations_verify_with_their_proof_and_every_credential(
    http: httpx.AsyncClient, issuer: Issuer
) -> None:
    holder = Ed25519PrivateKey.generate()
    ours = (await issue(http, unsigned(await institution_key(issuer)))).json()
    theirs = self_signed(Ed25519PrivateKey.generate())
    vp = presentation(holder, [ours["verifiableCredential"], theirs])
    answer = await verify_vp(http, vp)
    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"][0] == "proof"
    assert answer.json()["errors"] == []

    refused = {
        "challenge": await verify_vp(http, vp, challenge="another"),
        "domain": await verify_vp(http, vp, domain="elsewhere.example"),
        "authentication": await verify_vp(
            http, presentation(holder, [theirs], purpose="assertionMethod")
        ),
    }
    forged = copy.deepcopy(vp)
    forged["proof"]["proofValue"] = "z5nmMBw2u9TGKd9NxxHJtyZKgjN2Eh"
    refused["Ed25519 signature"] = await verify_vp(http, forged)
    tampered_vc = copy.deepcopy(theirs)
    tampered_vc["credentialSubject"]["alumniOf"] = "Elsewhere"
    refused["verifiableCredential[0]"] = await verify_vp(http, presentation(holder, [tampered_vc]))
    refused["must be an object"] = await verify_vp(
        http,
        presentation(holder, ["https://example.org/credentials/1"]),  # type: ignore[list-item]
    )
    refused["VerifiablePresentation"] = await verify_vp(http, {"type": ["NonconformingDocument"]})
    for words, answer in refused.items():
        assert answer.status_code == 400, (words, answer.text)
        assert words in answer.json()["errors"][0]["detail"], (words, answer.text)

    # Without a proof, its credentials are still verified; the answer warns.
    unproved = {k: v for k, v in vp.items() if k != "proof"}
    answer = await verify_vp(http, unproved)
    assert answer.status_code == 200, answer.text
    assert answer.json()["warnings"]


@pytest.mark.integration
async def test_a_vc_1_1_credential_is_signed_with_the_data_integrity_context_added(
    http: httpx.AsyncClient, issuer: Issuer, tmp_path: Path
) -> None:
    did = await institution_key(issuer)
    credential = {
        "@context": [VC_1_1],
        "id": f"urn:uuid:{uuid.uuid4()}",
        "type": ["VerifiableCredential"],
        "issuer": did,
        "issuanceDate": "2020-03-16T22:37:26.544Z",
        "credentialSubject": {"id": "did:example:subject"},
    }
    answer = await issue(http, credential)
    assert answer.status_code == 201, answer.text
    vc = answer.json()["verifiableCredential"]
    assert vc["@context"] == [VC_1_1, DATA_INTEGRITY]
    assert (await verify(http, vc)).status_code == 200
    controller = did_key_document(public_key_of_did_key(did))
    result = third_party_verify(tmp_path, controllers=[controller], credential=vc)
    assert result["dataIntegrity"]["verified"] is True, result
    expired = {**credential, "expirationDate": "2021-01-01T00:00:00Z"}
    vc = (await issue(http, expired)).json()["verifiableCredential"]
    answer = await verify(http, vc)
    assert answer.status_code == 400
    assert "expired" in answer.json()["errors"][0]["detail"]


def chain_proof(document: dict[str, Any], key: Ed25519PrivateKey, **members: str) -> dict[str, Any]:
    """An eddsa-rdfc-2022 proof with further members (``id``, ``previousProof``) signed too.

    ``document`` keeps the proofs a chained proof signs (those its ``previousProof`` names).
    """
    config = {**ProofOptions(did_key_method(key.public_key()), NOW).as_proof(), **members}
    signature = key.sign(hash_data(document, config))
    return {**config, "proofValue": "z" + base58.b58encode(signature).decode()}


@pytest.mark.integration
async def test_proof_sets_and_chains_verify_when_every_proof_does(
    http: httpx.AsyncClient,
) -> None:
    issuer_key, cosigner = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    credential = unsigned(did_key(issuer_key.public_key()))
    first = chain_proof(credential, cosigner, id="urn:uuid:first-proof")
    # A proof set: both sign the unsecured credential.
    second = chain_proof(credential, issuer_key)
    assert (await verify(http, {**credential, "proof": [first, second]})).status_code == 200
    # A proof chain: the second proof also signs the first (its previousProof).
    chained = chain_proof(
        {**credential, "proof": [first]}, issuer_key, previousProof="urn:uuid:first-proof"
    )
    assert (await verify(http, {**credential, "proof": [first, chained]})).status_code == 200
    # The chain broken (the previous proof missing or changed): refused.
    answer = await verify(http, {**credential, "proof": [chained]})
    assert answer.status_code == 400
    assert "previousProof" in answer.json()["errors"][0]["detail"]
    replaced = chain_proof(
        {**credential, "id": "urn:uuid:other"}, cosigner, id="urn:uuid:first-proof"
    )
    assert (await verify(http, {**credential, "proof": [replaced, chained]})).status_code == 400
    # Every proof must verify, and one must be the issuer's.
    only_cosigned = {**credential, "proof": [first]}
    answer = await verify(http, only_cosigned)
    assert answer.status_code == 400
    assert "issuer differs from signer" in answer.json()["errors"][0]["detail"]


@pytest.mark.unit
def test_a_related_resource_with_its_published_digests_is_accepted() -> None:
    published = {
        "id": "https://www.w3.org/ns/credentials/v2",
        "digestSRI": "sha384-NSOcNpmdIVUxIJGvGUoe22FjTWrXiaXlsZ8q6912LdnR3KraQO2n75Ica4wK4Qeg",
        "digestMultibase": "uJKGMkOmFbVJhEfKTduMC2XCyvRAYLjOVmZWwIH1wQ7k",
    }
    unknown = {"id": "https://example.org/syllabus.pdf", "digestSRI": "sha384-anything"}
    credential = {**unsigned("did:example:issuer"), "relatedResource": [published, unknown]}
    assert credential_errors(credential) == []


@pytest.mark.integration
async def test_a_stranger_s_did_key_never_passes_for_an_institution_at_the_public_verifier(
    http: httpx.AsyncClient, issuer: Issuer
) -> None:
    """Anyone can make a did:key: only the VC-API, as W3C's verifiers do, accepts any signer."""
    stranger = Ed25519PrivateKey.generate()
    public_key = stranger.public_key()
    claim = unsigned({"id": did_key(public_key), "name": "University of Oxford"})
    proof = create_proof(claim, stranger, ProofOptions(did_key_method(public_key), NOW))
    posing = {**claim, "proof": proof}

    public = await http.post("/verify", json=posing)
    assert public.status_code == 200, public.text
    verdict = public.json()
    assert (verdict["verified"], verdict["failed"]) == (False, "issuer")
    assert "not a key of an institution of this issuer" in verdict["error"]
    assert (await verify(http, posing)).status_code == 200  # the VC-API: any did:key signer

    # The institution's own did:key passes everywhere; once the key is revoked, nowhere public.
    ours = await issue(http, unsigned(await institution_key(issuer)))
    credential = ours.json()["verifiableCredential"]
    assert (await http.post("/verify", json=credential)).json()["verified"] is True
    await issuer.database["keys"].update_many({}, {"$set": {"status": "revoked"}})
    assert (await http.post("/verify", json=credential)).json()["failed"] == "issuer"


@pytest.mark.integration
async def test_hostile_but_well_formed_credentials_get_a_verdict_not_a_server_error(
    http: httpx.AsyncClient,
) -> None:
    stranger = Ed25519PrivateKey.generate()
    method = ProofOptions(did_key_method(stranger.public_key()), NOW)
    listed = unsigned([did_key(stranger.public_key())])
    listed_issuer = {**listed, "proof": create_proof(listed, stranger, method)}
    nested: dict[str, Any] = {"name": "leaf"}
    for _ in range(400):
        nested = {"knows": nested}
    deep = {**self_signed(stranger), "credentialSubject": {"id": "did:example:x", **nested}}
    for credential in (listed_issuer, deep):
        answer = await http.post("/verify", json=credential)
        assert answer.status_code in {200, 422}, answer.text
        if answer.status_code == 200:
            assert answer.json()["verified"] is False


@pytest.mark.unit
def test_a_poison_graph_is_refused_within_the_work_limit() -> None:
    """Blank nodes all alike would make RDFC-1.0 try factorially many orders."""
    alike = 12
    poison = {
        "@context": {"@vocab": "https://example.org/"},
        "@graph": [
            {"@id": f"_:b{i}", "p": [{"@id": f"_:b{j}"} for j in range(alike) if j != i]}
            for i in range(alike)
        ],
    }
    with pytest.raises(CanonicalizationLimitError, match="too alike"):
        canonicalize(poison)
