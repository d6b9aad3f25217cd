"""Access tokens: who a caller is and what they may do, verifiable by every service.

Intake signs short-lived JWTs (EdDSA, Ed25519) and publishes its public keys as a JWK Set at
``/.well-known/jwks.json``. Any service verifies a token with that key set alone — no call to
intake per request — and reads the caller's roles per institution from it.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Role = Literal["learner", "evaluator", "institution_admin"]

TOKEN_ISSUER = "microcred-intake"  # noqa: S105 - a name, not a secret
TOKEN_AUDIENCE = "microcred"  # noqa: S105
TOKEN_ALGORITHMS = ["EdDSA"]


class Membership(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    institution: str
    role: Role


class Principal(BaseModel):
    """The caller a token speaks for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: str
    email: str
    name: str
    memberships: tuple[Membership, ...] = ()
    platform_admin: bool = False

    def roles_in(self, institution_id: str) -> set[str]:
        return {m.role for m in self.memberships if m.institution == institution_id}

    def has_role(self, institution_id: str, *roles: Role) -> bool:
        """Whether the caller holds one of ``roles`` at the institution (admins hold all)."""
        held = self.roles_in(institution_id)
        return self.platform_admin or bool(held & set(roles)) or "institution_admin" in held


class TokenClaims(BaseModel):
    model_config = ConfigDict(extra="ignore")

    iss: Literal["microcred-intake"]
    aud: Literal["microcred"]
    sub: str = Field(min_length=1)
    exp: int
    iat: int
    email: str
    name: str
    roles: list[Membership] = []
    padm: bool = False

    def principal(self) -> Principal:
        return Principal(
            user_id=self.sub,
            email=self.email,
            name=self.name,
            memberships=tuple(self.roles),
            platform_admin=self.padm,
        )


class InvalidTokenError(ValueError):
    """The token is malformed, not signed by a known key, expired, or not meant for us."""


def verify_token(token: str, keys: KeySet, *, now: float | None = None) -> Principal:
    """Return the principal of a valid token; raise ``InvalidTokenError`` otherwise."""
    try:
        decoded = jwt.decode(token, keys, algorithms=TOKEN_ALGORITHMS)
    except (JoseError, ValueError) as exc:
        raise InvalidTokenError(f"bad token: {exc}") from exc
    if decoded.header.get("typ") != "at+jwt":
        raise InvalidTokenError("not an access token")
    try:
        claims = TokenClaims.model_validate(decoded.claims)
    except ValidationError as exc:
        raise InvalidTokenError("token claims are not microcred's") from exc
    moment = time.time() if now is None else now
    if claims.exp <= moment:
        raise InvalidTokenError("token expired")
    if claims.iat > moment + 60:
        raise InvalidTokenError("token issued in the future")
    return claims.principal()


async def bearer_principal(authorization: str, keys: RemoteKeySet) -> Principal:
    """The principal of an ``Authorization: Bearer`` header, or a 401 problem."""
    from microcred_shared.http import ProblemError  # noqa: PLC0415 - http imports FastAPI

    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ProblemError(401, "Unauthorized", "send an access token (Authorization: Bearer)")
    try:
        return await keys.verify(token)
    except InvalidTokenError as exc:
        raise ProblemError(401, "Unauthorized", str(exc)) from exc


class RemoteKeySet:
    """Intake's published key set, fetched on first use and again when an unknown key appears."""

    def __init__(self, jwks_url: str, refresh_seconds: float = 300.0) -> None:
        self._url = jwks_url
        self._refresh = refresh_seconds
        self._keys: KeySet | None = None
        self._fetched = 0.0

    async def _fetch(self) -> KeySet:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(self._url)
            response.raise_for_status()
        document: dict[str, Any] = response.json()
        self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        self._fetched = time.monotonic()
        return self._keys

    async def verify(self, token: str) -> Principal:
        keys = self._keys
        if keys is None or time.monotonic() - self._fetched > self._refresh:
            keys = await self._fetch()
        try:
            return verify_token(token, keys)
        except InvalidTokenError:
            # A rotated key: look once more before refusing.
            if time.monotonic() - self._fetched > 1.0:
                return verify_token(token, await self._fetch())
            raise
