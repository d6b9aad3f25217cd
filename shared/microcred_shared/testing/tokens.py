"""Intake's access tokens in a service's tests, signed without intake by a key of the test's own."""

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


def access_token(
    *roles: tuple[str, str],
    user_id: str | None = None,
    name: str = "Someone",
    email: str = "someone@example.org",
    platform_admin: bool = False,
    lifetime_seconds: int = 300,
    key: OKPKey = SIGNING_KEY,
) -> str:
    """An access token for a user with ``(institution, role)`` memberships."""
    now = int(time.time())
    claims = {
        "iss": TOKEN_ISSUER,
        "aud": TOKEN_AUDIENCE,
        "sub": user_id or f"u-{uuid.uuid4().hex[:8]}",
        "iat": now,
        "exp": now + lifetime_seconds,
        "email": email,
        "name": name,
        "roles": [{"institution": i, "role": r} for i, r in roles],
        "padm": platform_admin,
    }
    header = {"alg": "EdDSA", "typ": "at+jwt", "kid": str(key.kid)}
    return jwt.encode(header, claims, key, algorithms=["EdDSA"])


def bearer(*roles: tuple[str, str], **claims: object) -> dict[str, str]:
    """An ``Authorization`` header (see ``access_token``)."""
    return {"Authorization": "Bearer " + access_token(*roles, **claims)}  # type: ignore[arg-type]
