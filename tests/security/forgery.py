"""Access tokens an attacker can make without intake's private key, and tampered real ones.

Every service trusts intake's EdDSA-signed access tokens (``microcred_shared.auth``). Each
token here must be refused wherever a token is taken; ``valid`` is the control that the same
route does accept a well-made one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import OKPKey

from microcred_shared.auth import TOKEN_AUDIENCE, TOKEN_ISSUER

Roles = tuple[tuple[str, str], ...]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(
    roles: Roles, *, user_id: str = "u-attacker", platform_admin: bool = False, **changes: Any
) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": user_id,
        "iat": now,
        "exp": now + 300,
        "email": "mallory@example.org",
        "name": "Mallory",
        "roles": [{"institution": i, "role": r} for i, r in roles],
        "padm": platform_admin,
    }
    claims.update(changes)
    return claims


def signed(key: OKPKey, kid: str, claims: dict[str, Any], **header: Any) -> str:
    """Signed with ``key`` (EdDSA), ``typ: at+jwt`` unless ``header`` says otherwise."""
    fields = {"alg": "EdDSA", "kid": kid, "typ": "at+jwt", **header}
    fields = {k: v for k, v in fields.items() if v is not None}
    return jwt.encode(fields, claims, key, algorithms=["EdDSA"], default_type=None)


def unsigned(claims: dict[str, Any], kid: str, alg: str = "none") -> str:
    """``alg: none``: a header and claims, and an empty signature."""
    header = {"alg": alg, "kid": kid, "typ": "at+jwt"}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}."


def hmac_signed(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """HS256 with ``secret``: the classic key-confusion attack when ``secret`` is public."""
    header = {"alg": "HS256", "kid": kid, "typ": "at+jwt"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def valid(key: OKPKey, kid: str, roles: Roles, **claims: Any) -> str:
    return signed(key, kid, claims_for(roles, **claims))


def attacks(key: OKPKey, kid: str, roles: Roles, **claims: Any) -> dict[str, str]:
    """Named tokens, each of which must be refused (401), all claiming ``roles``.

    ``key`` is the trusted (intake's) signing key: its public half is what an attacker knows.
    """
    now = int(time.time())
    good = claims_for(roles, **claims)
    public = key.as_dict(private=False)
    raw_public = base64.urlsafe_b64decode(str(public["x"]) + "==")
    other = OKPKey.generate_key("Ed25519", parameters={"kid": kid})
    # A real token of someone else, its claims swapped for the attacker's: the signature no
    # longer covers them.
    header, _, signature = valid(key, kid, (), user_id="u-honest").split(".")
    tampered = f"{header}.{b64(json.dumps(claims_for(roles, platform_admin=True)).encode())}"
    return {
        "alg none": unsigned(good, kid),
        "alg None (capitalised)": unsigned(good, kid, "None"),
        "alg none with the real signature kept": unsigned(good, kid) + signature,
        "HS256 keyed with the public key's raw bytes": hmac_signed(good, raw_public, kid),
        "HS256 keyed with the public key's PEM": hmac_signed(good, key.as_pem(private=False), kid),
        "HS256 keyed with the public JWK's x": hmac_signed(good, str(public["x"]).encode(), kid),
        "expired": signed(key, kid, {**good, "iat": now - 600, "exp": now - 1}),
        "issued an hour in the future": signed(key, kid, {**good, "iat": now + 3600}),
        "signed by another Ed25519 key under the same kid": signed(other, kid, good),
        "signed by another Ed25519 key under its own kid": signed(other, "attacker-key", good),
        "typ JWT, not at+jwt": signed(key, kid, good, typ="JWT"),
        "no typ": signed(key, kid, good, typ=None),
        "another audience": signed(key, kid, {**good, "aud": "somewhere-else"}),
        "another issuer": signed(key, kid, {**good, "iss": "someone-else"}),
        "claims tampered after signing": f"{tampered}.{signature}",
        "garbage": "not.a.token",
    }
