"""Accounting's HTTP API as intake's pages call it, on behalf of the signed-in user.

Accounting owns the ledger, the awards and the pathways; intake owns sessions and accounts. The
dashboard and the institution report ask intake for a short-lived access token of the signed-in
user and call accounting with it, so accounting checks the user's roles exactly as it does for
any API client (as the evaluators' pages do with review, ``review_client``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx

from microcred_shared.service_client import ServiceClient, ServiceUnavailableError

#: The tables of the institution report that accounting serves as CSV.
ReportTable = Literal["competences", "months"]
REPORT_TABLES: tuple[ReportTable, ...] = ("competences", "months")


class AccountingUnavailableError(ServiceUnavailableError):
    """Accounting cannot be reached, or failed: pages say so instead of failing."""


@dataclass(frozen=True)
class CsvDownload:
    """A CSV file as accounting serves it, passed on to the browser unchanged."""

    content: bytes
    media_type: str
    filename: str


@dataclass
class AccountingClient(ServiceClient):
    """One connection pool to accounting for the whole app."""

    service: ClassVar[str] = "accounting"
    unavailable: ClassVar[type[ServiceUnavailableError]] = AccountingUnavailableError

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
        """Accounting's successful answer to a GET (see ``ServiceClient.send``)."""
        return await self.send("GET", path, token, params=params, accept=accept)

    async def call(
        self, path: str, token: str, *, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Accounting's JSON object at ``path``."""
        body = self.json_of(await self.request(path, token, params=params))
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
