"""The issuer as the notifier's pages use it: live verification, and the renderings to download.

The notifier keeps the signed credential (it came with credential-issued) but not its status,
which only the issuer knows at any moment (revoked, suspended), nor the baked badge and the PDF,
which the issuer renders. One connection pool for the whole app; an issuer that cannot be reached
makes pages say so, never fail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from microcred_shared.http import ProblemError
from microcred_shared.service_client import ServiceClient, ServiceUnavailableError


class IssuerUnavailableError(ServiceUnavailableError):
    """The issuer cannot be reached or failed."""


@dataclass(frozen=True)
class Verdict:
    """The issuer's answer about one credential, without the credential it echoes."""

    verified: bool
    status: str | None
    signed_by: str | None
    failed: str | None = None
    error: str | None = None
    revoked_at: str | None = None

    @classmethod
    def of(cls, answer: dict[str, Any]) -> Verdict:
        checks = _mapping(answer.get("checks"))
        revocation = _mapping(answer.get("revocation"))
        return cls(
            verified=answer.get("verified") is True,
            status=_text(checks.get("status")),
            signed_by=_text(checks.get("issuer")),
            failed=_text(answer.get("failed")),
            error=_text(answer.get("error")),
            revoked_at=_text(revocation.get("revoked_at")),
        )


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass
class IssuerClient(ServiceClient):
    service: ClassVar[str] = "issuer"
    unavailable: ClassVar[type[ServiceUnavailableError]] = IssuerUnavailableError

    timeout_seconds: float = 15.0
    #: A share page opened by many visitors asks the issuer at most this often per credential.
    verdict_seconds: float = 30.0
    _verdicts: dict[str, tuple[float, Verdict]] = field(default_factory=dict, init=False)

    async def verify(self, credential: dict[str, Any], *, fresh: bool = False) -> Verdict:
        """The issuer's verdict on ``credential`` now (cached a few seconds unless ``fresh``)."""
        key = str(credential.get("id", ""))
        cached = self._verdicts.get(key)
        if cached and not fresh and time.monotonic() - cached[0] < self.verdict_seconds:
            return cached[1]
        answer = await self._public("POST", "/verify", body=credential)
        verdict = Verdict.of(_mapping(self.json_of(answer)))
        if len(self._verdicts) > 10_000:  # noqa: PLR2004 - a bound, not a tuning knob
            self._verdicts.clear()
        self._verdicts[key] = (time.monotonic(), verdict)
        return verdict

    async def rendering(self, credential_id: str, name: str, language: str) -> httpx.Response:
        """The issuer's ``badge.svg`` or ``certificate.pdf`` of a credential."""
        path = f"/credentials/{quote(credential_id, safe='')}/{name}"
        return await self._public("GET", path, params={"lang": language}, accept="*/*")

    async def _public(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            return await self.send(method, path, None, **options)
        except ProblemError as exc:
            # The issuer refusing its own credential is the issuer's failure, not the page's.
            raise IssuerUnavailableError(f"the issuer answered {exc.status}: {exc.title}") from exc
