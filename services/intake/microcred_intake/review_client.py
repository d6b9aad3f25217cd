"""Review's HTTP API as the evaluators' pages call it, on behalf of the signed-in user.

Review owns the queue and the decisions; intake owns sessions and accounts. A page handler asks
intake for a short-lived access token of the signed-in user and calls review with it, so review
checks the user's roles exactly as it does for any API client.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx

from microcred_shared.http import ProblemError
from microcred_shared.logging import get_logger

log = get_logger(__name__)


class ReviewUnavailableError(RuntimeError):
    """Review cannot be reached, or failed: the page says so and asks to try again."""


@dataclass
class ReviewClient:
    """One connection pool to review for the whole app; ``transport`` is for tests."""

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

    def acting_as(self, token: str) -> ReviewCalls:
        return ReviewCalls(self, token)

    async def call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """Review's answer.

        Its refusals raise ``ProblemError``; ``ReviewUnavailableError`` when it cannot be
        reached, fails (5xx), refuses intake's own tokens (401) or answers something else
        than JSON.
        """
        try:
            response = await self._client().request(
                method,
                path,
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            log.warning("review.unreachable", path=path, error=type(exc).__name__)
            raise ReviewUnavailableError(str(exc)) from exc
        if response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            log.warning("review.failed", path=path, status=response.status_code)
            raise ReviewUnavailableError(f"review answered {response.status_code}")
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            # A token intake has just minted is refused: review does not trust intake's key set
            # (its jwks_url). Signing in again would not help; this is for the operators.
            log.error("review.token_refused", path=path, detail=response.text[:300])
            raise ReviewUnavailableError("review refuses intake's access tokens")
        if response.is_error:
            raise problem_from(response)
        try:
            return response.json()
        except ValueError as exc:
            raise ReviewUnavailableError("review answered something that is not JSON") from exc


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


@dataclass(frozen=True)
class ReviewCalls:
    """Review's routes, called with one user's token."""

    client: ReviewClient
    token: str

    async def _call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        return await self.client.call(method, path, self.token, params=params, body=body)

    async def queue(self, institution_id: str, filters: Mapping[str, str]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = await self._call(
            "GET", f"/institutions/{institution_id}/queue", params=filters
        )
        return items

    async def item(self, institution_id: str, evidence_id: str) -> dict[str, Any]:
        item: dict[str, Any] = await self._call(
            "GET", f"/institutions/{institution_id}/queue/{evidence_id}"
        )
        return item

    async def act(
        self,
        institution_id: str,
        evidence_id: str,
        action: str,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """``claim``, ``release``, ``decision`` or ``reversal``."""
        answer: dict[str, Any] = await self._call(
            "POST", f"/institutions/{institution_id}/queue/{evidence_id}/{action}", body=body
        )
        return answer

    async def decision_times(self, institution_id: str) -> dict[str, Any]:
        times: dict[str, Any] = await self._call(
            "GET", f"/institutions/{institution_id}/decision-times"
        )
        return times

    async def settings(self, institution_id: str) -> dict[str, Any]:
        current: dict[str, Any] = await self._call(
            "GET", f"/institutions/{institution_id}/review-settings"
        )
        return current

    async def save_settings(
        self, institution_id: str, settings: Mapping[str, Any]
    ) -> dict[str, Any]:
        saved: dict[str, Any] = await self._call(
            "PUT", f"/institutions/{institution_id}/review-settings", body=settings
        )
        return saved
