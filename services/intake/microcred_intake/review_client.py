"""Review's HTTP API as the evaluators' pages call it, on behalf of the signed-in user.

Review owns the queue and the decisions (see ``service_client`` for how intake calls it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from microcred_shared.service_client import ServiceClient, ServiceUnavailableError


class ReviewUnavailableError(ServiceUnavailableError):
    """Review cannot be reached, or failed: the page says so and asks to try again."""


@dataclass
class ReviewClient(ServiceClient):
    """One connection pool to review for the whole app."""

    service: ClassVar[str] = "review"
    unavailable: ClassVar[type[ServiceUnavailableError]] = ReviewUnavailableError

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
        """Review's answer, as JSON (see ``ServiceClient.send`` for its failures)."""
        response = await self.send(method, path, token, params=params, body=body)
        return self.json_of(response)


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
