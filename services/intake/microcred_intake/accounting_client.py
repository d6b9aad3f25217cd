"""Accounting's HTTP API as intake's pages call it, on behalf of the signed-in user.

Accounting owns the ledger, the awards and the pathways; intake owns sessions and accounts. The
dashboard and the institution report ask intake for a short-lived access token of the signed-in
user and call accounting with it, so accounting checks the user's roles exactly as it does for
any API client (as the evaluators' pages do with review, ``review_client``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

import httpx

from microcred_intake.review_client import problem_from
from microcred_shared.logging import get_logger

log = get_logger(__name__)

#: The tables of the institution report that accounting serves as CSV.
ReportTable = Literal["competences", "months"]
REPORT_TABLES: tuple[ReportTable, ...] = ("competences", "months")


class AccountingUnavailableError(RuntimeError):
    """Accounting cannot be reached, or failed: pages say so instead of failing."""


@dataclass(frozen=True)
class CsvDownload:
    """A CSV file as accounting serves it, passed on to the browser unchanged."""

    content: bytes
    media_type: str
    filename: str


@dataclass
class AccountingClient:
    """One connection pool to accounting for the whole app; ``transport`` is for tests."""

    base_url: str
    timeout_seconds: float = 5.0
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

    def acting_as(self, token: str) -> AccountingCalls:
        return AccountingCalls(self, token)

    async def request(
        self,
        path: str,
        token: str,
        *,
        params: Mapping[str, str] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        """Accounting's successful answer to a GET.

        Its refusals raise ``ProblemError``; ``AccountingUnavailableError`` when it cannot be
        reached, fails (5xx) or refuses intake's own tokens (401).
        """
        try:
            response = await self._client().get(
                path, params=params, headers={"Authorization": f"Bearer {token}", "Accept": accept}
            )
        except httpx.HTTPError as exc:
            log.warning("accounting.unreachable", path=path, error=type(exc).__name__)
            raise AccountingUnavailableError(str(exc)) from exc
        if response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            log.warning("accounting.failed", path=path, status=response.status_code)
            raise AccountingUnavailableError(f"accounting answered {response.status_code}")
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            # A token intake has just minted is refused: accounting does not trust intake's key
            # set (its jwks_url). Signing in again would not help; this is for the operators.
            log.error("accounting.token_refused", path=path, detail=response.text[:300])
            raise AccountingUnavailableError("accounting refuses intake's access tokens")
        if response.is_error:
            raise problem_from(response)
        return response

    async def call(
        self, path: str, token: str, *, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Accounting's JSON object at ``path``."""
        response = await self.request(path, token, params=params)
        try:
            body = response.json()
        except ValueError as exc:
            raise AccountingUnavailableError("accounting answered something not JSON") from exc
        if not isinstance(body, dict):
            raise AccountingUnavailableError("accounting answered something not a JSON object")
        return body


@dataclass(frozen=True)
class AccountingCalls:
    """Accounting's routes, called with one user's token."""

    client: AccountingClient
    token: str

    async def progress(self, institution_id: str, learner_id: str) -> dict[str, Any]:
        """The learner's competences and the institution's pathways, as the ledger has them."""
        return await self.client.call(
            f"/institutions/{institution_id}/learners/{learner_id}/progress", self.token
        )

    async def report(self, institution_id: str, months: int) -> dict[str, Any]:
        return await self.client.call(
            f"/institutions/{institution_id}/report", self.token, params={"months": str(months)}
        )

    async def report_csv(self, institution_id: str, table: ReportTable, months: int) -> CsvDownload:
        response = await self.client.request(
            f"/institutions/{institution_id}/report.csv",
            self.token,
            params={"table": table, "months": str(months)},
            accept="text/csv",
        )
        return CsvDownload(
            content=response.content,
            media_type=response.headers.get("content-type", "text/csv; charset=utf-8"),
            filename=_filename(response.headers.get("content-disposition", ""))
            or f"{institution_id}-{table}.csv",
        )


def _filename(disposition: str) -> str | None:
    """The quoted ``filename`` of a Content-Disposition header, if it names a plain one."""
    for part in disposition.split(";"):
        name, _, value = part.strip().partition("=")
        if name.lower() == "filename":
            value = value.strip().strip('"')
            # Only what is safe to repeat in our own header: no quotes, slashes or controls.
            if value and all(c.isalnum() or c in "-_." for c in value):
                return value
    return None
