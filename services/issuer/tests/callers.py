"""Callers of the issuer's routes in tests: intake's access tokens, signed without intake."""

from __future__ import annotations

from microcred_shared.testing.tokens import LocalKeySet, bearer

__all__ = ["LocalKeySet", "token"]


def token(*roles: tuple[str, str], platform_admin: bool = False) -> dict[str, str]:
    """An ``Authorization`` header for a user with ``(institution, role)`` memberships."""
    return bearer(*roles, platform_admin=platform_admin)
