"""Verification for anyone: ``POST /verify`` with every kind of input, and the public page.

Route tests on the issuer's routers over the real database: each kind of credential input
(JSON-LD, VC-JWT, baked SVG and PNG, form uploads) verifies; each bad one is either refused as
problem details (not a credential at all) or answered with the check that failed.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from microcred_issuer.credential import build_credential, institution_did
from microcred_issuer.dataintegrity import ProofOptions, sign, unsecured
from microcred_issuer.handlers import Issuer
from microcred_issuer.rendering.baking import bake_png
from microcred_issuer.rendering.elements import verification_url
from services.issuer.tests.samples import (
    AWARDING,
    PUBLIC_URL,
    competence_award,
    credential_id_of,
    pathway_award,
    revocation,
)
from services.issuer.tests.test_renderings import minimal_png

pytestmark = pytest.mark.integration

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


async def stored(issuer: Issuer, award_id: str = "award-1") -> dict[str, Any]:
    await issuer.on_competence_awarded(competence_award(award_id))
    document = await issuer.credential(credential_id_of(award_id))
    assert document is not None
    return document


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def verified(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    verdict: dict[str, Any] = answer.json()
    assert verdict["verified"] is True, verdict
    assert verdict["checks"]["signature"] is True
    assert verdict["checks"]["issuer"] == institution_did(PUBLIC_URL, AWARDING)
    assert verdict["checks"]["status"] == "active"
    assert verdict["checks"]["dates"] is True
    return verdict


def failed(answer: httpx.Response, check: str) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    verdict: dict[str, Any] = answer.json()
    assert verdict["verified"] is False
    assert verdict["failed"] == check, verdict
    assert verdict["error"]
    return verdict


def problem(answer: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], body
    return body


# --- every kind of input -----------------------------------------------------------------------


async def test_a_json_ld_credential_verifies_as_json_or_json_ld(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    credential = (await stored(issuer))["credential"]
    for media_type in ("application/json", "application/ld+json"):
        answer = await http.post(
            "/verify", content=json.dumps(credential), headers={"Content-Type": media_type}
        )
        verdict = verified(answer)
        assert verdict["format"] == "data-integrity"
        assert verdict["credential"]["id"] == credential["id"]


async def test_a_vc_jwt_verifies_as_text_as_jwt_or_wrapped_in_json(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    token = (await stored(issuer))["credential_jwt"]
    for media_type in ("text/plain", "application/jwt"):
        answer = await http.post("/verify", content=token, headers={"Content-Type": media_type})
        assert verified(answer)["format"] == "vc-jwt"
    verified(await http.post("/verify", json={"credential_jwt": token}))


async def test_baked_badges_verify_svg_png_and_uploaded(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    document = await stored(issuer)
    credential_id = document["credential_id"]
    for badge in ("badge.svg", "badge-jwt.svg"):
        svg = (await http.get(f"/credentials/{credential_id}/{badge}")).content
        answer = await http.post("/verify", content=svg, headers={"Content-Type": "image/svg+xml"})
        verified(answer)
        uploaded = await http.post("/verify", files={"file": (badge, svg, "image/svg+xml")})
        verified(uploaded)
    for baked in (document["credential"], document["credential_jwt"]):
        png = bake_png(minimal_png(), baked)
        verified(await http.post("/verify", content=png, headers={"Content-Type": "image/png"}))
        verified(await http.post("/verify", files={"file": ("badge.png", png, "image/png")}))
    pasted = await http.post("/verify", data={"credential": document["credential_jwt"]})
    verified(pasted)
    pasted_json = await http.post(
        "/verify", data={"credential": json.dumps(document["credential"])}
    )
    verified(pasted_json)


# --- bad credentials: the check that failed ---------------------------------------------------


async def test_a_tampered_credential_fails_the_signature_check(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    document = await stored(issuer)
    tampered = copy.deepcopy(document["credential"])
    tampered["credentialSubject"]["achievement"]["name"] += " (with honours)"
    failed(await http.post("/verify", json=tampered), "signature")

    head, payload, signature = document["credential_jwt"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["name"] = "Something else"
    forged = f"{head}.{b64url(json.dumps(claims).encode())}.{signature}"
    failed(
        await http.post("/verify", content=forged, headers={"Content-Type": "text/plain"}),
        "signature",
    )


async def test_a_credential_signed_with_another_key_fails_the_signature_check(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    document = await stored(issuer)
    forged = sign(
        unsecured(document["credential"]),
        Ed25519PrivateKey.generate(),
        ProofOptions(document["verification_method"], datetime.now(UTC).replace(microsecond=0)),
    )
    verdict = failed(await http.post("/verify", json=forged), "signature")
    assert "does not verify" in verdict["error"]


async def test_a_credential_of_an_unknown_issuer_fails_the_issuer_check(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    stranger = institution_did("https://elsewhere.example.net", "inst-x")
    credential = build_credential(
        competence_award("award-x").data,
        credential_id_of("award-x"),
        stranger,
        datetime.now(UTC).replace(microsecond=0),
    )
    signed = sign(
        credential,
        Ed25519PrivateKey.generate(),
        ProofOptions(f"{stranger}#key-1", datetime.now(UTC)),
    )
    verdict = failed(await http.post("/verify", json=signed), "issuer")
    assert verdict["error"] == "unknown issuer"


async def test_jwts_with_alg_none_or_hmac_fail_the_signature_check(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    document = await stored(issuer)
    kid = document["verification_method"]
    payload = b64url(json.dumps(unsecured(document["credential"])).encode())
    unsigned = (
        f"{b64url(json.dumps({'alg': 'none', 'kid': kid, 'typ': 'JWT'}).encode())}.{payload}."
    )
    verdict = failed(
        await http.post("/verify", content=unsigned, headers={"Content-Type": "application/jwt"}),
        "signature",
    )
    assert verdict["checks"]["signature"] is False

    # The classic confusion: HMAC keyed with the issuer's public key (which anyone has).
    head = b64url(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    public_key = (await http.get(f"/institutions/{AWARDING}/did.json")).json()[
        "verificationMethod"
    ][0]["publicKeyMultibase"]
    mac = hmac.new(public_key.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    hmac_token = f"{head}.{payload}.{b64url(mac)}"
    failed(await http.post("/verify", json={"credential_jwt": hmac_token}), "signature")


async def test_a_revoked_credential_fails_the_status_check_without_its_reason(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    document = await stored(issuer)
    await issuer.on_award_revoked(revocation("award-1", reason="forged certificate of Ada"))
    verdict = failed(await http.post("/verify", json=document["credential"]), "status")
    assert verdict["checks"]["status"] == "revoked"
    assert "forged" not in json.dumps(verdict)

    page = await http.get(f"/credentials/{document['credential_id']}/verify")
    assert page.status_code == 200
    assert "Revoked" in page.text
    assert "forged" not in page.text


# --- input that is no credential: problem details -------------------------------------------


async def test_input_that_is_no_credential_is_refused_with_the_reason(
    http: httpx.AsyncClient,
) -> None:
    json_type = {"Content-Type": "application/json"}
    problem(await http.post("/verify", content=b'{"@context": [', headers=json_type), 400, "JSON")
    problem(await http.post("/verify", json={"hello": "world"}), 422, "not a credential")
    problem(await http.post("/verify", json=[1, 2]), 422, "not an object")
    problem(await http.post("/verify", content=b"", headers=json_type), 400)
    problem(
        await http.post("/verify", content=b"not a token", headers={"Content-Type": "text/plain"}),
        422,
        "compact JWS",
    )
    problem(
        await http.post("/verify", content=b"W10.e30.", headers={"Content-Type": "text/plain"}),
        422,
        "header is not a JSON object",
    )
    problem(
        await http.post("/verify", content=b"%%%", headers={"Content-Type": "application/pdf"}),
        415,
        "application/json",
    )
    too_big = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    problem(await http.post("/verify", content=too_big, headers=json_type), 413)


async def test_hostile_or_empty_images_are_refused(http: httpx.AsyncClient) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg">&lol2;</svg>'
    )
    svg = {"Content-Type": "image/svg+xml"}
    problem(await http.post("/verify", content=laughs, headers=svg), 422, "DTD")
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<svg xmlns="http://www.w3.org/2000/svg">&x;</svg>'
    )
    problem(await http.post("/verify", content=xxe, headers=svg), 422, "DTD")
    plain = b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>'
    problem(await http.post("/verify", content=plain, headers=svg), 422, "no baked credential")
    png = {"Content-Type": "image/png"}
    problem(await http.post("/verify", content=minimal_png(), headers=png), 422, "no baked")
    problem(await http.post("/verify", content=b"\x89PNG\r\n\x1a\nxx", headers=png), 422, "PNG")
    problem(await http.post("/verify", data={"credential": "  "}), 422, "no credential")


# --- the page --------------------------------------------------------------------------------


async def test_the_verification_page_shows_the_credential_and_its_checks(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    await issuer.on_pathway_awarded(pathway_award("award-p"))
    credential_id = credential_id_of("award-p")
    url = verification_url(PUBLIC_URL, credential_id).removeprefix(PUBLIC_URL)

    page = await http.get(url)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert '<html lang="en">' in html
    assert "Valid credential" in html
    for check in ("Signature", "Issuer", "Status", "Dates"):
        assert f'<span class="check-name">{check}</span>' in html
    assert html.count("✓ Passed") == 4
    assert "Ada Lovelace" in html
    assert credential_id in html
    assert "Stacked micro-credentials" in html
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html.split("<body>", 1)[0]  # nothing loaded from elsewhere
    assert 'action="/verify"' in html
    quoted = url.removesuffix("/verify")
    assert f'href="{quoted}/badge.svg"' in html
    assert f'href="{quoted}/certificate.pdf"' in html


async def test_a_suspended_credential_is_shown_suspended(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    document = await stored(issuer)
    assert await issuer.suspend(AWARDING, document["credential_id"], suspended=True)
    page = await http.get(f"/credentials/{document['credential_id']}/verify")
    assert page.status_code == 200
    assert '<p class="headline" id="verdict-headline">Suspended</p>' in page.text
    await issuer.suspend(AWARDING, document["credential_id"], suspended=False)
    page = await http.get(f"/credentials/{document['credential_id']}/verify")
    assert "Valid credential" in page.text


async def test_an_unknown_credential_is_a_404_page_that_tells_nothing(
    http: httpx.AsyncClient,
) -> None:
    page = await http.get("/credentials/urn%3Auuid%3Anot-issued-ever/verify")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Credential not found" in page.text
    assert "not-issued-ever" not in page.text
    assert "at most 4 MiB" in page.text


async def test_the_form_posts_to_verify_and_gets_a_page(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    document = await stored(issuer)
    form = await http.get("/verify")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text

    answer = await http.post(
        "/verify", data={"credential": document["credential_jwt"]}, headers={"Accept": HTML}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "Valid credential" in answer.text
    assert "Competence c-1" in answer.text

    tampered = copy.deepcopy(document["credential"])
    tampered["name"] = "Another name"
    answer = await http.post(
        "/verify", data={"credential": json.dumps(tampered)}, headers={"Accept": HTML}
    )
    assert answer.status_code == 200
    assert "Not valid" in answer.text
    assert "the signature check failed" in answer.text

    refused = await http.post("/verify", data={"credential": "{nope"}, headers={"Accept": HTML})
    assert refused.status_code == 400
    assert "This could not be verified" in refused.text
