"""``microcred verify FILE --did-document DID.json``: offline verification, in memory.

The credentials are signed here as the issuer signs them (same code, a key of the test's own),
written to files, and verified by the command with the issuer's DID document as a file: every
kind of input, every failed check named, and exit codes 0 (valid), 1 (invalid), 2 (unusable).
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from microcred_issuer.credential import (
    build_credential,
    did_document,
    institution_did,
    sign_jwt,
)
from microcred_issuer.dataintegrity import ProofOptions, sign, unsecured
from microcred_issuer.keys import SigningKey
from microcred_issuer.rendering.badge import baked_badge
from microcred_issuer.rendering.baking import bake_png
from microcred_issuer.statuslist import bitstring, encode_list
from microcred_shared.cli import app
from services.issuer.tests.samples import AWARDING, PUBLIC_URL, competence_award, credential_id_of
from services.issuer.tests.test_renderings import minimal_png

pytestmark = pytest.mark.unit

NOW = datetime.now(UTC).replace(microsecond=0)
DID = institution_did(PUBLIC_URL, AWARDING)
INDEX = 4242


@dataclass
class Issued:
    key: SigningKey
    credential: dict[str, Any]
    jwt: str
    did_path: Path
    tmp: Path

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def status_list(self, purpose: str, *set_bits: int) -> Path:
        url = f"{PUBLIC_URL}/institutions/{AWARDING}/status/{purpose}"
        unsigned = {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "id": url,
            "type": ["VerifiableCredential", "BitstringStatusListCredential"],
            "issuer": DID,
            "validFrom": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "credentialSubject": {
                "id": f"{url}#list",
                "type": "BitstringStatusList",
                "statusPurpose": purpose,
                "encodedList": encode_list(bitstring(set_bits)),
            },
        }
        signed = sign(unsecured(unsigned), self.key.private_key, ProofOptions(f"{DID}#key-1", NOW))
        return self.write(f"{purpose}.json", json.dumps(signed))


@pytest.fixture
def issued(tmp_path: Path) -> Issued:
    key = SigningKey(AWARDING, "key-1", Ed25519PrivateKey.generate())
    unsigned = build_credential(
        competence_award("award-cli").data, credential_id_of("award-cli"), DID, NOW
    )
    unsigned["credentialStatus"] = [
        {
            "id": f"{PUBLIC_URL}/institutions/{AWARDING}/status/{purpose}#{INDEX}",
            "type": "BitstringStatusListEntry",
            "statusPurpose": purpose,
            "statusListIndex": str(INDEX),
            "statusListCredential": f"{PUBLIC_URL}/institutions/{AWARDING}/status/{purpose}",
        }
        for purpose in ("revocation", "suspension")
    ]
    credential = sign(unsigned, key.private_key, ProofOptions(f"{DID}#key-1", NOW))
    did_path = tmp_path / "did.json"
    did_path.write_text(json.dumps(did_document(DID, [key])))
    return Issued(key, credential, sign_jwt(unsigned, key, f"{DID}#key-1"), did_path, tmp_path)


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["verify", *map(str, args)])
    return result.exit_code, result.output


def test_every_kind_of_credential_file_verifies_offline(issued: Issued) -> None:
    files: dict[str, str | bytes] = {
        "credential.json": json.dumps(issued.credential, indent=2),
        "credential.jwt": issued.jwt + "\n",
        "badge.svg": baked_badge(issued.credential),
        "badge-jwt.svg": baked_badge(issued.credential, jwt=issued.jwt),
        "badge.png": bake_png(minimal_png(), issued.credential),
        "badge-jwt.png": bake_png(minimal_png(), issued.jwt),
    }
    for name, content in files.items():
        code, output = run(issued.write(name, content), "--did-document", issued.did_path)
        assert code == 0, (name, output)
        assert output.rstrip().endswith("VALID")
        assert f"passed ({DID})" in output
        assert "status     not checked offline" in output
        assert "note: status not checked offline" in output


def test_the_verdict_as_json(issued: Issued) -> None:
    path = issued.write("credential.json", json.dumps(issued.credential))
    code, output = run(path, "--did-document", issued.did_path, "--json")
    assert code == 0
    verdict = json.loads(output)
    assert verdict["verified"] is True
    assert verdict["format"] == "data-integrity"
    assert verdict["checks"] == {"signature": True, "issuer": DID, "status": None, "dates": True}


def test_status_lists_given_are_checked(issued: Issued) -> None:
    path = issued.write("credential.json", json.dumps(issued.credential))
    args = (path, "--did-document", issued.did_path)
    clear = ("--status-list", issued.status_list("revocation"))
    suspension = ("--status-list", issued.status_list("suspension", 7))
    code, output = run(*args, *clear, *suspension)
    assert code == 0, output
    assert "status     passed (active)" in output

    revoked = ("--status-list", issued.status_list("revocation", 7, INDEX))
    code, output = run(*args, *revoked, *suspension)
    assert code == 1
    assert "INVALID: the status check failed: revoked" in output

    # Only one list given: the other purpose stays unknown, so the status is not claimed.
    code, output = run(*args, *clear)
    assert code == 0
    assert "no suspension status list given" in output
    assert "not checked offline" in output

    forged = json.loads(issued.status_list("revocation").read_text())
    forged["credentialSubject"]["encodedList"] = encode_list(bitstring([INDEX]))
    code, output = run(*args, "--status-list", issued.write("forged.json", json.dumps(forged)))
    assert code == 1
    assert "status list does not verify" in output


def test_each_failed_check_is_named(issued: Issued, tmp_path: Path) -> None:
    tampered = copy.deepcopy(issued.credential)
    tampered["credentialSubject"]["achievement"]["name"] += " (with honours)"
    code, output = run(
        issued.write("t.json", json.dumps(tampered)), "--did-document", issued.did_path
    )
    assert code == 1
    assert "signature  FAILED" in output

    head, _, signature = issued.jwt.split(".")
    claims = base64.urlsafe_b64encode(json.dumps(unsecured(tampered)).encode()).rstrip(b"=")
    code, output = run(
        issued.write("t.jwt", f"{head}.{claims.decode()}.{signature}"),
        "--did-document",
        issued.did_path,
    )
    assert code == 1
    assert "INVALID: the signature check failed" in output

    other = SigningKey(AWARDING, "key-1", Ed25519PrivateKey.generate())
    other_did = tmp_path / "other-did.json"
    other_did.write_text(json.dumps(did_document(DID, [other])))
    code, output = run(
        issued.write("c.json", json.dumps(issued.credential)), "--did-document", other_did
    )
    assert code == 1
    assert "the signature check failed" in output

    stranger = tmp_path / "stranger.json"
    stranger_did = institution_did("https://elsewhere.example.net", "x")
    stranger.write_text(json.dumps(did_document(stranger_did, [other])))
    code, output = run(
        issued.write("c.json", json.dumps(issued.credential)), "--did-document", stranger
    )
    assert code == 1
    assert "INVALID: the issuer check failed: unknown issuer" in output

    expired = build_credential(
        competence_award("award-old").data, credential_id_of("award-old"), DID, NOW
    )
    expired["validUntil"] = (NOW - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    signed = sign(expired, issued.key.private_key, ProofOptions(f"{DID}#key-1", NOW))
    code, output = run(
        issued.write("e.json", json.dumps(signed)), "--did-document", issued.did_path
    )
    assert code == 1
    assert "INVALID: the dates check failed: expired" in output


def test_unusable_input_exits_2(issued: Issued, tmp_path: Path) -> None:
    did = ("--did-document", issued.did_path)
    assert run(issued.write("x.json", "{not json"), *did)[0] == 2
    assert run(issued.write("y.json", '{"hello": 1}'), *did)[0] == 2
    assert run(issued.write("z.txt", "hello world"), *did)[0] == 2
    assert run(tmp_path / "missing.json", *did)[0] == 2
    laughs = '<!DOCTYPE s [<!ENTITY a "a">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>'
    code, output = run(issued.write("evil.svg", laughs), *did)
    assert code == 2
    assert "DTD" in output
    good = issued.write("c.json", json.dumps(issued.credential))
    assert run(good, "--did-document", issued.write("bad-did.json", "[]"))[0] == 2
    assert run(good, "--did-document", issued.write("no-did.json", '{"id": "x"}'))[0] == 2
    assert run(good)[0] == 2  # --did-document is required
