"""Callers of the issuer's routes in tests: intake's access tokens, signed without intake."""

from __future__ import annotations

import time
import uuid

from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey

from microcred_shared.auth import TOKEN_AUDIENCE, TOKEN_ISSUER, RemoteKeySet

SIGNING_KEY = OKPKey.generate_key("Ed25519", parameters={"kid": "intake-test"})


class LocalKeySet(RemoteKeySet):
    """Intake's key set, without intake: the test's own signing key."""

    def __init__(self) -> None:
        super().__init__("http://intake.invalid/.well-known/jwks.json")

    async def _fetch(self) -> KeySet:
        self._keys = KeySet([OKPKey.import_key(SIGNING_KEY.as_dict(private=False))])
        self._fetched = time.monotonic()
        return self._keys


def token(*roles: tuple[str, str], platform_admin: bool = False) -> dict[str, str]:
    """An ``Authorization`` header for a user with ``(institution, role)`` memberships."""
    now = int(time.time())
    claims = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": f"u-{uuid.uuid4().hex[:8]}",
        "iat": now,
        "exp": now + 300,
        "email": "someone@example.org",
        "name": "Someone",
        "roles": [{"institution": i, "role": r} for i, r in roles],
        "padm": platform_admin,
    }
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": "intake-test"}
    return {
        "Authorization": "Bearer " + jwt.encode(header, claims, SIGNING_KEY, algorithms=["EdDSA"])
    }
