"""The eddsa-rdfc-2022 Data Integrity proof: bundled contexts, 1EdTech's vector, PyLD's traps."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from microcred_issuer import contexts
from microcred_issuer.contexts import (
    BUNDLED,
    ContextIntegrityError,
    ContextRefusedError,
    bundled_contexts,
    load_contexts,
    offline_document_loader,
)
from microcred_issuer.dataintegrity import (
    DataIntegrityError,
    ProofOptions,
    UndefinedTermsError,
    UnknownContextError,
    canonicalize,
    hash_data,
    proofs_of,
    rdfc_escape,
    rdfc_unescape,
    sign,
    undefined_terms,
    unsecured,
    verify_proof,
)
from microcred_issuer.keys import public_key_from_multibase
from services.issuer.tests.vectors import read_vector

pytestmark = pytest.mark.unit

CREATED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DID = "did:web:issuer.example.org:institutions:inst-a"
METHOD = f"{DID}#key-1"


def credential(**extra: Any) -> dict[str, Any]:
    return {
        "@context": [contexts.VC_V2, contexts.OB_V3P0_3_0_3],
        "id": "urn:uuid:3f0b8a3c-0d7e-4b4e-9a61-5d0f1f1f1f1f",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": DID, "type": ["Profile"], "name": "Instituto A"},
        "validFrom": "2026-03-02T00:00:00Z",
        "name": "Developing digital content",
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "achievement": {
                "id": "urn:microcred:competences:c-1",
                "type": ["Achievement"],
                "name": "Developing digital content",
                "description": "Create content.",
                "criteria": {"narrative": "Portfolio review"},
            },
        },
        **extra,
    }


# --- the bundled contexts ---------------------------------------------------------------


def test_every_bundled_context_is_the_pinned_file() -> None:
    directory = Path(contexts.__file__).parent
    for context in BUNDLED:
        data = (directory / context.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == context.sha256
    assert set(bundled_contexts()) == {c.url for c in BUNDLED}
    assert {
        "https://www.w3.org/ns/credentials/v2",
        "https://w3id.org/security/data-integrity/v2",
        "https://w3id.org/security/multikey/v1",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    } <= set(bundled_contexts())


def test_a_changed_context_file_is_refused_at_load(tmp_path: Path) -> None:
    directory = Path(contexts.__file__).parent
    for context in BUNDLED:
        (tmp_path / context.file).write_bytes((directory / context.file).read_bytes())
    assert load_contexts(tmp_path)
    ob = tmp_path / "ob-v3p0-context-3.0.3.json"
    ob.write_bytes(ob.read_bytes().replace(b'"narrative"', b'"narrativ"'))
    with pytest.raises(ContextIntegrityError, match=r"ob-v3p0-context-3\.0\.3\.json.*pinned"):
        load_contexts(tmp_path)


def test_the_loader_serves_the_bundle_and_refuses_every_other_url() -> None:
    remote = offline_document_loader(contexts.VC_V2)
    assert remote["documentUrl"] == contexts.VC_V2
    assert "@context" in remote["document"]
    with pytest.raises(ContextRefusedError, match="not one of the bundled contexts"):
        offline_document_loader("https://evil.example/context.json")
    # Not even the OBv3 context under another name, nor VC 1.1's examples context (VC 1.1's
    # own context is bundled, for the VC-API; the 2.0 examples context too).
    with pytest.raises(ContextRefusedError):
        offline_document_loader("https://purl.imsglobal.org/spec/ob/v3p0/context.json")
    with pytest.raises(ContextRefusedError):
        offline_document_loader("https://www.w3.org/2018/credentials/examples/v1")
    for url in (contexts.VC_V1, contexts.CREDENTIALS_EXAMPLES_V2):
        assert offline_document_loader(url)["documentUrl"] == url


def test_a_document_naming_an_unknown_context_is_refused_clearly() -> None:
    document = credential()
    document["@context"] = [*document["@context"], "https://evil.example/context.json"]
    with pytest.raises(UnknownContextError, match=r"https://evil\.example/context\.json"):
        canonicalize(document)
    with pytest.raises(UnknownContextError):
        sign(document, Ed25519PrivateKey.generate(), ProofOptions(METHOD, CREATED))


# --- 1EdTech's test vector --------------------------------------------------------------


def test_the_1edtech_vector_verifies_and_a_one_byte_tamper_does_not() -> None:
    signed = read_vector("1edtech-obv3-signed.json")
    controller = read_vector("1edtech-issuer-controller.json")
    [method] = controller["verificationMethod"]
    public_key = public_key_from_multibase(method["publicKeyMultibase"])
    [proof] = proofs_of(signed)

    verify_proof(signed, proof, public_key)

    tampered = copy.deepcopy(signed)
    tampered["credentialSubject"]["achievement"]["name"] = "Teamwork!"
    with pytest.raises(DataIntegrityError, match="does not verify"):
        verify_proof(tampered, proof, public_key)
    value = proof["proofValue"]
    flipped = {**proof, "proofValue": value[:-1] + ("r" if value[-1] != "r" else "s")}
    with pytest.raises(DataIntegrityError):
        verify_proof(signed, flipped, public_key)
    later = {**proof, "created": "2010-01-01T19:23:25Z"}
    with pytest.raises(DataIntegrityError, match="does not verify"):
        verify_proof(signed, later, public_key)


def test_re_signing_the_1edtech_vector_reproduces_it_byte_for_byte() -> None:
    signed = read_vector("1edtech-obv3-signed.json")
    keys = read_vector("1edtech-obv3-keypair.json")
    secret = bytes.fromhex(keys["secretKeyHex"])
    private_key = Ed25519PrivateKey.from_private_bytes(secret[:32])
    proof = signed["proof"]
    options = ProofOptions(
        proof["verificationMethod"], datetime.fromisoformat(proof["created"]), "assertionMethod"
    )

    document = unsecured(signed)
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    data = hash_data(document, config)
    assert data.hex() == keys["proofHashHex"] + keys["documentHashHex"]
    assert private_key.sign(data).hex() == keys["signatureHex"]

    resigned = sign(document, private_key, options)
    # The same proof (as the strict schema wants, in an array), every byte of it.
    assert resigned["proof"] == [proof]
    assert json.dumps(resigned["proof"][0]) == json.dumps(proof)


# --- RDFC-1.0 escaping ----------------------------------------------------------------


def test_rdfc_escaping_covers_every_control_character_and_del() -> None:
    assert rdfc_escape('a\\b"c') == 'a\\\\b\\"c'
    assert rdfc_escape("\t\b\n\r\f") == "\\t\\b\\n\\r\\f"
    assert rdfc_escape("\x00\x01\x07\x0b\x0e\x1f\x7f") == (
        "\\u0000\\u0001\\u0007\\u000B\\u000E\\u001F\\u007F"
    )
    assert rdfc_escape("é 😀 \u0080 \u2028") == "é 😀 \u0080 \u2028"
    every = "".join(chr(c) for c in [*range(0x20), 0x7F]) + '\\"x'
    assert rdfc_unescape(rdfc_escape(every)) == every


def test_a_credential_with_control_characters_is_canonicalised_per_rdfc_1_0() -> None:
    name = "Tab\there, bell\x07, backspace\b, form feed\f, unit separator\x1f, delete\x7f"
    document = credential(name=name)
    document["credentialSubject"]["achievement"]["criteria"]["narrative"] = "line\nfeed\x01"

    nquads = canonicalize(document)

    assert (
        '"Tab\\there, bell\\u0007, backspace\\b, form feed\\f, unit separator\\u001F, '
        'delete\\u007F"' in nquads
    )
    # In a blank node's statements too: those are hashed to name the node.
    assert '"line\\nfeed\\u0001"' in nquads
    assert "\x07" not in nquads
    assert "\x7f" not in nquads
    key = Ed25519PrivateKey.generate()
    signed = sign(document, key, ProofOptions(METHOD, CREATED))
    verify_proof(signed, signed["proof"][0], key.public_key())


# --- safe mode: undefined terms -----------------------------------------------------------


def test_terms_no_context_defines_are_refused_before_signing() -> None:
    document = credential(favouriteColour="blue")
    document["credentialSubject"]["achievement"]["secretNote"] = "not covered"
    document["credentialSubject"]["type"] = ["AchievementSubject", "UndefinedSubject"]

    found = undefined_terms(document)

    assert "/favouriteColour" in found
    assert "/credentialSubject/achievement/secretNote" in found
    assert any("UndefinedSubject" in term for term in found)
    with pytest.raises(UndefinedTermsError, match="favouriteColour") as refused:
        sign(document, Ed25519PrivateKey.generate(), ProofOptions(METHOD, CREATED))
    assert "/credentialSubject/achievement/secretNote" in refused.value.terms


def test_relative_ids_are_refused() -> None:
    document = credential()
    document["credentialSubject"]["id"] = "learner-1"
    assert any("relative id 'learner-1'" in term for term in undefined_terms(document))


def test_an_undefined_term_added_after_signing_fails_verification() -> None:
    """PyLD alone would still verify it (the term is dropped before hashing): refused."""
    key = Ed25519PrivateKey.generate()
    signed = sign(credential(), key, ProofOptions(METHOD, CREATED))
    smuggled = {**signed, "grade": "A+"}
    assert canonicalize(unsecured(smuggled)) == canonicalize(unsecured(signed))
    with pytest.raises(UndefinedTermsError, match="grade"):
        verify_proof(smuggled, smuggled["proof"][0], key.public_key())
    extra_option = {**signed["proof"][0], "note": "hi"}
    with pytest.raises(UndefinedTermsError, match="note"):
        verify_proof(signed, extra_option, key.public_key())


def test_the_proof_has_the_cryptosuite_s_shape() -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign(credential(), key, ProofOptions(METHOD, CREATED))
    [proof] = signed["proof"]
    assert proof["type"] == "DataIntegrityProof"
    assert proof["cryptosuite"] == "eddsa-rdfc-2022"
    assert proof["verificationMethod"] == METHOD
    assert proof["proofPurpose"] == "assertionMethod"
    assert proof["created"] == "2026-03-02T12:00:00Z"
    assert proof["proofValue"].startswith("z")
    # Every member of the proof is a term the contexts define (so signing need not check it).
    proof_config = {k: v for k, v in proof.items() if k != "proofValue"}
    assert undefined_terms({**proof_config, "@context": signed["@context"]}) == []
    verify_proof(signed, proof, key.public_key())
    with pytest.raises(DataIntegrityError, match="does not verify"):
        verify_proof(signed, proof, Ed25519PrivateKey.generate().public_key())
    # A proof's own @context must lead the document's.
    with pytest.raises(DataIntegrityError, match="@context"):
        verify_proof(signed, {**proof, "@context": contexts.DATA_INTEGRITY_V2}, key.public_key())


@pytest.mark.parametrize(
    "context", ["relative-context", 5, [{"@version": "x"}], [contexts.VC_V2, {"@vocab": 3}]]
)
def test_a_document_that_is_not_json_ld_is_refused_clearly(context: Any) -> None:
    key = Ed25519PrivateKey.generate()
    signed = sign(credential(), key, ProofOptions(METHOD, CREATED))
    broken = {**signed, "@context": context}
    with pytest.raises(DataIntegrityError, match="not valid JSON-LD"):
        verify_proof(broken, signed["proof"][0], key.public_key())
