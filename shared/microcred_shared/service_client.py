"""Another service's HTTP API as a service's pages call it; one connection pool per service.

Intake's pages call review (the queue, the decisions) and accounting (the ledger) on behalf of
the signed-in user: intake mints a short-lived access token of that user, so the service checks
the user's roles exactly as it does for any API client. The notifier calls the issuer's public
routes (verification, renderings), with no token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar

import httpx

from microcred_shared.http import ProblemError
from microcred_shared.logging import get_logger

log = get_logger(__name__)


class ServiceUnavailableError(RuntimeError):
    """The service cannot be reached, or failed: pages say so instead of failing."""


@dataclass
class ServiceClient:
    """A pool to one service; ``transport`` is for tests."""

    #: How the service is named in logs and messages, and what its absence raises.
    service: ClassVar[str] = "service"
    unavailable: ClassVar[type[ServiceUnavailableError]] = ServiceUnavailableError

    base_url: str
    timeout_seconds: float = 10.0
    transport: httpx.AsyncBaseTransport | None = None
    _http: httpx.AsyncClient | None = field(default=None, init=False, repr=False)

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.base_url.rstrip("/"),
                timeout=self.timeout_seconds,
                transport=self.transport,
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def send(
        self,
        method: str,
        path: str,
        token: str | None,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        """The service's successful answer.

        Its refusals raise ``ProblemError``; ``unavailable`` when it cannot be reached, fails
        (5xx) or refuses intake's own tokens (401).
        """
        try:
            response = await self._client().request(
                method,
                path,
                params=params,
                json=body,
                headers={
                    "Accept": accept,
                    **({"Authorization": f"Bearer {token}"} if token else {}),
                },
            )
        except httpx.HTTPError as exc:
            log.warning(
                "service.unreachable", service=self.service, path=path, error=type(exc).__name__
            )
            raise self.unavailable(str(exc)) from exc
        if response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            log.warning(
                "service.failed", service=self.service, path=path, status=response.status_code
            )
            raise self.unavailable(f"{self.service} answered {response.status_code}")
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            # A token intake has just minted is refused: the service does not trust intake's
            # key set (its jwks_url). Signing in again would not help; this is for the operators.
            log.error(
                "service.token_refused", service=self.service, path=path, detail=response.text[:300]
            )
            raise self.unavailable(f"{self.service} refuses the access token")
        if response.is_error:
            raise problem_from(response)
        return response

    def json_of(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise self.unavailable(f"{self.service} answered something that is not JSON") from exc


def problem_from(response: httpx.Response) -> ProblemError:
    """A service's refusal (problem details, or a bare status) as a ``ProblemError``."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    title = body.get("title") or HTTPStatus(response.status_code).phrase
    return ProblemError(response.status_code, str(title), str(body.get("detail") or ""))
