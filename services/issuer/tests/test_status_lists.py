"""Bitstring Status Lists: indices, the published signed lists, revocation and suspension bits.

On the real database (a recording publisher stands in for Kafka where no event is read); the
status list credentials are also checked by Digital Bazaar's verifier on Node.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc.jws import extract_compact

from microcred_issuer.dataintegrity import proofs_of, verify_proof
from microcred_issuer.handlers import Issuer, StatusCheckError
from microcred_issuer.keys import public_key_from_multibase
from microcred_issuer.statuslist import (
    LIST_BITS,
    Purpose,
    StatusEntry,
    bit_is_set,
    bitstring,
    decode_list,
    encode_list,
)
from microcred_shared.contracts import topics
from microcred_shared.testing.fakes import RecordingPublisher
from services.issuer.tests.callers import token
from services.issuer.tests.samples import (
    AWARDING,
    PARTNER,
    PUBLIC_URL,
    competence_award,
    credential_id_of,
    revocation,
)
from services.issuer.tests.thirdparty import third_party_verify

# --- the bitstring, alone ---------------------------------------------------------------------


@pytest.mark.unit
def test_the_encoded_list_is_multibase_base64url_of_gzip_with_bit_zero_leftmost() -> None:
    bits = bitstring([0, 9, LIST_BITS - 1])
    assert len(bits) * 8 == LIST_BITS == 131_072  # 16 KiB: the spec's herd-privacy minimum
    encoded = encode_list(bits)
    assert encoded.startswith("u")
    assert "=" not in encoded
    # Decoded here independently of ``decode_list``: base64url, then GZIP.
    body = encoded[1:]
    raw = gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert raw == bits
    assert raw[0] == 0b1000_0000  # index 0: the first byte's left-most bit
    assert raw[1] == 0b0100_0000  # index 9
    assert raw[-1] == 0b0000_0001
    assert sum(b.bit_count() for b in raw) == 3
    assert decode_list(encoded) == bits
    assert [i for i in (0, 1, 8, 9, LIST_BITS - 1) if bit_is_set(bits, i)] == [0, 9, LIST_BITS - 1]
    assert encode_list(bits) == encoded  # stable: the same bits encode the same way
    with pytest.raises(ValueError, match="outside"):
        bitstring([LIST_BITS])
    with pytest.raises(ValueError, match="multibase"):
        decode_list("z" + body)


# --- fixtures ---------------------------------------------------------------------------------


async def issue(issuer: Issuer, award_id: str, *, tenant: str = AWARDING) -> dict[str, Any]:
    await issuer.on_competence_awarded(competence_award(award_id, tenant=tenant))
    assert isinstance(issuer.publisher, RecordingPublisher)
    [event] = [
        e
        for e in issuer.publisher.events(topics.CREDENTIAL_ISSUED)
        if e["data"]["award_id"] == award_id
    ]
    data: dict[str, Any] = event["data"]
    return data


def indices(credential: dict[str, Any]) -> dict[str, int]:
    return {e["statusPurpose"]: int(e["statusListIndex"]) for e in credential["credentialStatus"]}


async def published_list(http: httpx.AsyncClient, purpose: str) -> tuple[dict[str, Any], bytes]:
    answer = await http.get(f"/institutions/{AWARDING}/status/{purpose}")
    assert answer.status_code == 200, answer.text
    credential: dict[str, Any] = answer.json()
    return credential, decode_list(credential["credentialSubject"]["encodedList"])


# --- indices ----------------------------------------------------------------------------------


@pytest.mark.integration
async def test_each_credential_names_both_lists_with_its_own_random_index(
    issuer: Issuer,
) -> None:
    data = await issue(issuer, "award-1")
    credential = data["credential"]
    revocation_entry, suspension_entry = credential["credentialStatus"]
    index = revocation_entry["statusListIndex"]
    list_url = f"{PUBLIC_URL}/institutions/{AWARDING}/status/revocation"
    assert revocation_entry == {
        "id": f"{list_url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": index,
        "statusListCredential": list_url,
    }
    assert suspension_entry["statusPurpose"] == "suspension"
    assert suspension_entry["statusListCredential"].endswith(f"/{AWARDING}/status/suspension")
    assert 0 <= int(index) < LIST_BITS
    # Inside what is signed, and in the JWT too.
    payload = json.loads(extract_compact(data["credential_jwt"].encode()).payload)
    assert payload["credentialStatus"] == credential["credentialStatus"]
    stored = await issuer.credentials.find_one({"_id": "award-1"})
    assert stored is not None
    assert stored["status_entries"] == {
        purpose: {"list": 0, "index": index} for purpose, index in indices(credential).items()
    }

    # A redelivery (and a re-signing after a lost insert) keeps the award's indices.
    await issuer.on_competence_awarded(competence_award("award-1"))
    assert await issuer.status_lists.allocate(AWARDING, "award-1") == {
        purpose: StatusEntry(0, index) for purpose, index in indices(credential).items()
    }


@pytest.mark.integration
async def test_indices_are_unique_random_and_allocated_once_under_concurrency(
    issuer: Issuer,
) -> None:
    lists = issuer.status_lists
    awards = [f"award-{n}" for n in range(60)]
    # Every award allocated three times at once (redeliveries racing each other).
    results = await asyncio.gather(*(lists.allocate(AWARDING, a) for a in awards * 3))
    by_award: dict[str, list[dict[Purpose, StatusEntry]]] = {}
    for award_id, allocated in zip(awards * 3, results, strict=True):
        by_award.setdefault(award_id, []).append(allocated)
    for copies in by_award.values():
        assert copies[0] == copies[1] == copies[2]
    for purpose in ("revocation", "suspension"):
        taken = [copies[0][purpose].index for copies in by_award.values()]
        assert {copies[0][purpose].list_number for copies in by_award.values()} == {0}
        assert len(set(taken)) == len(awards)  # no two awards share an index
        assert all(0 <= i < LIST_BITS for i in taken)
        # Not sequential: 60 random draws from 131,072 are spread over the list.
        assert max(taken) - min(taken) > 10_000
    assert await lists.entries.count_documents({}) == 2 * len(awards)
    # Another institution's lists are its own.
    assert set(await lists.allocate(PARTNER, "award-0")) == {"revocation", "suspension"}


@pytest.mark.integration
async def test_a_list_half_full_hands_over_to_the_next(
    issuer: Issuer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Past ``rollover_at`` allocations (65,536 in service; 3 here) the next list takes over."""
    issuer.status_lists.rollover_at = 3
    issued = [await issue(issuer, f"award-{n}") for n in range(7)]
    numbers = [
        int(e["statusListCredential"].rsplit("/", 1)[1])
        if e["statusListCredential"].rsplit("/", 1)[1].isdigit()
        else 0
        for data in issued
        for e in data["credential"]["credentialStatus"]
        if e["statusPurpose"] == "revocation"
    ]
    assert numbers == [0, 0, 0, 1, 1, 1, 2]
    later = issued[4]
    url = later["credential"]["credentialStatus"][0]["statusListCredential"]
    assert url == f"{PUBLIC_URL}/institutions/{AWARDING}/status/revocation/1"
    # Redelivered after the rollover: still its first entries.
    await issuer.on_competence_awarded(competence_award("award-1"))
    assert (await issuer.status_lists.allocate(AWARDING, "award-1"))["revocation"].list_number == 0

    await issuer.on_award_revoked(revocation("award-4"))
    answer = await http.get(f"/institutions/{AWARDING}/status/revocation/1")
    assert answer.status_code == 200
    listed = answer.json()
    assert listed["id"] == url
    bits = decode_list(listed["credentialSubject"]["encodedList"])
    assert bit_is_set(bits, indices(later["credential"])["revocation"])
    _, first = await published_list(http, "revocation")
    assert not any(first)
    assert (await issuer.verify(later["credential"]))["checks"]["status"] == "revoked"
    assert (await issuer.verify(issued[3]["credential"]))["verified"] is True
    # A list not opened yet is not served.
    assert (await http.get(f"/institutions/{AWARDING}/status/revocation/9")).status_code == 404
    assert (await http.get(f"/institutions/{AWARDING}/status/revocation/0")).status_code == 422

    did_doc = (await http.get(f"/institutions/{AWARDING}/did.json")).json()
    suspension = (await http.get(f"/institutions/{AWARDING}/status/suspension/1")).json()
    result = third_party_verify(
        tmp_path,
        controllers=[did_doc],
        credential=later["credential"],
        status_lists=[listed, suspension],
    )
    assert result["dataIntegrity"]["status"] == {"revocation": True, "suspension": False}


# --- the published lists ----------------------------------------------------------------------


@pytest.mark.integration
async def test_the_status_lists_are_signed_public_and_cacheable(
    issuer: Issuer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    await issue(issuer, "award-1")
    assert (await http.get("/institutions/nobody/status/revocation")).status_code == 404
    assert (await http.get(f"/institutions/{AWARDING}/status/expiry")).status_code == 422

    answer = await http.get(f"/institutions/{AWARDING}/status/revocation")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vc+ld+json")
    assert "max-age=60" in answer.headers["cache-control"]
    etag = answer.headers["etag"]
    listed = answer.json()
    url = f"{PUBLIC_URL}/institutions/{AWARDING}/status/revocation"
    assert listed["id"] == url
    assert listed["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert listed["issuer"] == issuer.did(AWARDING)
    subject = listed["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == "revocation"
    assert decode_list(subject["encodedList"]) == bytes(LIST_BITS // 8)

    # Its proof: the institution's key, eddsa-rdfc-2022, for assertionMethod.
    [proof] = proofs_of(listed)
    did_doc = (await http.get(f"/institutions/{AWARDING}/did.json")).json()
    [method] = [m for m in did_doc["verificationMethod"] if m["id"] == proof["verificationMethod"]]
    verify_proof(listed, proof, public_key_from_multibase(method["publicKeyMultibase"]))
    assert (await issuer.verify(listed))["verified"] is True
    result = third_party_verify(tmp_path, controllers=[did_doc], credential=listed)
    assert result["dataIntegrity"] == {"verified": True, "error": None, "status": None}

    # Unchanged, it is not signed again: same ETag, and a conditional request gets 304.
    again = await http.get(f"/institutions/{AWARDING}/status/revocation")
    assert again.headers["etag"] == etag
    assert again.json() == listed
    unchanged = await http.get(
        f"/institutions/{AWARDING}/status/revocation", headers={"If-None-Match": etag}
    )
    assert unchanged.status_code == 304
    assert unchanged.headers["etag"] == etag


# --- revocation -------------------------------------------------------------------------------


@pytest.mark.integration
async def test_revoking_sets_the_bit_the_list_shows_at_once(
    issuer: Issuer, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    data = await issue(issuer, "award-1")
    other = await issue(issuer, "award-2")
    credential = data["credential"]
    index = indices(credential)["revocation"]
    before = await http.get(f"/institutions/{AWARDING}/status/revocation")

    for _ in range(2):  # a redelivery changes nothing more
        await issuer.on_award_revoked(revocation("award-1"))
    stored_list = await issuer.status_lists.lists.find_one({"_id": f"{AWARDING}/revocation/0"})
    assert stored_list is not None
    assert stored_list["set_bits"] == [index]
    assert stored_list["version"] == 1

    listed, bits = await published_list(http, "revocation")
    assert listed["proof"] != before.json()["proof"]  # signed again
    assert (await http.get(f"/institutions/{AWARDING}/status/revocation")).headers[
        "etag"
    ] != before.headers["etag"]
    assert bit_is_set(bits, index)
    assert not bit_is_set(bits, indices(other["credential"])["revocation"])
    assert sum(b.bit_count() for b in bits) == 1
    _, suspension_bits = await published_list(http, "suspension")
    assert not any(suspension_bits)

    verdict = await issuer.verify(credential)
    assert verdict["verified"] is False
    assert verdict["failed"] == "status"
    assert verdict["checks"]["status"] == "revoked"
    assert verdict["revocation"]["status"] == "revoked"
    assert (await issuer.verify(data["credential_jwt"]))["checks"]["status"] == "revoked"
    assert (await issuer.verify(other["credential"]))["verified"] is True

    # The third-party verifier reads the same bit from the published list.
    did_doc = (await http.get(f"/institutions/{AWARDING}/did.json")).json()
    lists = [listed, (await published_list(http, "suspension"))[0]]
    result = third_party_verify(
        tmp_path, controllers=[did_doc], credential=credential, status_lists=lists
    )
    assert result["dataIntegrity"]["status"] == {"revocation": True, "suspension": False}


@pytest.mark.integration
async def test_the_status_comes_from_the_bits(issuer: Issuer) -> None:
    """The list is the truth verifiers see: verification reads the bit, not the record."""
    data = await issue(issuer, "award-1")
    entry = StatusEntry(0, indices(data["credential"])["revocation"])
    await issuer.status_lists.set_bit(AWARDING, "revocation", entry)
    assert (await issuer.verify(data["credential"]))["checks"]["status"] == "revoked"
    await issuer.status_lists.clear_bit(AWARDING, "revocation", entry)
    assert (await issuer.verify(data["credential"]))["verified"] is True

    # An entry pointing elsewhere (signed by the issuer, so only a bug could make one) is no
    # status the platform can vouch for.
    foreign = {
        **data["credential"],
        "credentialStatus": [
            {**e, "statusListCredential": "https://elsewhere.example/status/1"}
            for e in data["credential"]["credentialStatus"]
        ],
    }
    with pytest.raises(StatusCheckError, match="unknown status list"):
        await issuer._status_of(foreign, None)


# --- suspension -------------------------------------------------------------------------------


@pytest.mark.integration
async def test_an_institution_admin_suspends_and_lifts_a_suspension(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    data = await issue(issuer, "award-1")
    credential = data["credential"]
    index = indices(credential)["suspension"]
    path = f"/institutions/{AWARDING}/credentials/{data['credential_id']}/suspension"
    admin = token((AWARDING, "institution_admin"))

    for _ in range(2):  # idempotent
        answer = await http.put(path, headers=admin)
        assert answer.status_code == 204, answer.text
    _, bits = await published_list(http, "suspension")
    assert bit_is_set(bits, index)
    _, revocation_bits = await published_list(http, "revocation")
    assert not any(revocation_bits)
    verdict = await issuer.verify(credential)
    assert verdict["verified"] is False
    assert verdict["failed"] == "status"
    assert verdict["error"] == "suspended"
    assert verdict["checks"]["status"] == "suspended"
    assert (await issuer.verify(data["credential_jwt"]))["checks"]["status"] == "suspended"
    status = (await http.get(f"/credentials/{data['credential_id']}/status")).json()
    assert status["status"] == "suspended"

    for _ in range(2):
        answer = await http.delete(path, headers=admin)
        assert answer.status_code == 204, answer.text
    _, bits = await published_list(http, "suspension")
    assert not any(bits)
    verdict = await issuer.verify(credential)
    assert verdict["verified"] is True, verdict
    assert verdict["checks"]["status"] == "active"

    # Revocation outranks a suspension.
    await http.put(path, headers=admin)
    await issuer.on_award_revoked(revocation("award-1"))
    assert (await issuer.verify(credential))["checks"]["status"] == "revoked"


@pytest.mark.integration
async def test_only_the_institutions_admins_may_suspend(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    data = await issue(issuer, "award-1")
    partner = await issue(issuer, "award-p1", tenant=PARTNER)
    path = f"/institutions/{AWARDING}/credentials/{data['credential_id']}/suspension"

    assert (await http.put(path)).status_code == 401
    assert (await http.put(path, headers={"Authorization": "Bearer nonsense"})).status_code == 401
    for refused in (
        token((AWARDING, "learner")),
        token((AWARDING, "evaluator")),
        token((PARTNER, "institution_admin")),
    ):
        for method in (http.put, http.delete):
            answer = await method(path, headers=refused)
            assert answer.status_code == 403, answer.text
            assert answer.headers["content-type"] == "application/problem+json"

    # Another institution's credential is none of this one's: 404, whoever asks.
    foreign = f"/institutions/{AWARDING}/credentials/{partner['credential_id']}/suspension"
    admin = token((AWARDING, "institution_admin"))
    assert (await http.put(foreign, headers=admin)).status_code == 404
    assert (await http.delete(foreign, headers=admin)).status_code == 404
    unknown = f"/institutions/{AWARDING}/credentials/{credential_id_of('nope')}/suspension"
    assert (await http.put(unknown, headers=admin)).status_code == 404

    # Nothing changed anywhere.
    for institution_id in (AWARDING, PARTNER):
        stored = await issuer.status_lists.lists.find_one({"_id": f"{institution_id}/suspension/0"})
        assert stored is not None
        assert stored["set_bits"] == []
    assert (await issuer.verify(data["credential"]))["verified"] is True
    assert (await issuer.verify(partner["credential"]))["verified"] is True


# --- the VC-JWT header --------------------------------------------------------------------------


@pytest.mark.integration
async def test_the_vc_jwt_header_is_what_obv3_allows(issuer: Issuer) -> None:
    data = await issue(issuer, "award-1")
    header = extract_compact(data["credential_jwt"].encode()).headers()
    assert header == {"alg": "EdDSA", "kid": data["verification_method"], "typ": "JWT"}
    assert set(header) <= {"alg", "kid", "jwk", "typ"}
