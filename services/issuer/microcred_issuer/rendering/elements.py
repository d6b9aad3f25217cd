"""What a rendering shows of a credential: the reader is shared (``credential_view``)."""

from __future__ import annotations

from urllib.parse import quote

from microcred_shared.credential_view import (
    CredentialView,
    EvidenceItem,
    Organisation,
    narrative_sections,
    view_of,
)

__all__ = [
    "CredentialView",
    "EvidenceItem",
    "Organisation",
    "narrative_sections",
    "verification_url",
    "view_of",
]


def verification_url(public_url: str, credential_id: str) -> str:
    """The public page where anyone checks the credential (signature, issuer, status)."""
    return f"{public_url.rstrip('/')}/credentials/{quote(credential_id, safe='')}/verify"
