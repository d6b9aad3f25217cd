"""Intake's client of accounting's API, against a fake accounting (``httpx.MockTransport``)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from microcred_intake.accounting_client import AccountingClient, AccountingUnavailableError
from microcred_shared.http import ProblemError

pytestmark = pytest.mark.unit

Answer = Callable[[httpx.Request], httpx.Response]


def client(answer: Answer, seen: list[httpx.Request] | None = None) -> AccountingClient:
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return answer(request)

    return AccountingClient("http://accounting:8003/", transport=httpx.MockTransport(handle))


async def test_progress_is_asked_with_the_users_token() -> None:
    seen: list[httpx.Request] = []
    accounting = client(
        lambda _: httpx.Response(200, json={"competences": [], "pathways": []}), seen
    )

    answer = await accounting.acting_as("the-token").progress("inst-a", "u-1")
    await accounting.close()

    assert answer == {"competences": [], "pathways": []}
    [request] = seen
    assert request.method == "GET"
    assert str(request.url) == "http://accounting:8003/institutions/inst-a/learners/u-1/progress"
    assert request.headers["authorization"] == "Bearer the-token"


async def test_the_report_asks_for_the_period() -> None:
    seen: list[httpx.Request] = []
    accounting = client(lambda _: httpx.Response(200, json={"months": []}), seen)

    await accounting.acting_as("t").report("inst-a", 24)

    assert seen[0].url.path == "/institutions/inst-a/report"
    assert seen[0].url.params["months"] == "24"


async def test_a_csv_is_passed_on_with_its_type_and_file_name() -> None:
    seen: list[httpx.Request] = []
    body = b"month,hours_approved,awards,pathway_awards\r\n2026-11,90.00,1,0\r\n"
    accounting = client(
        lambda _: httpx.Response(
            200,
            content=body,
            headers={
                "content-type": "text/csv; charset=utf-8",
                "content-disposition": 'attachment; filename="inst-a-months.csv"',
            },
        ),
        seen,
    )

    download = await accounting.acting_as("t").report_csv("inst-a", "months", 6)

    assert download.content == body
    assert download.media_type == "text/csv; charset=utf-8"
    assert download.filename == "inst-a-months.csv"
    assert seen[0].url.path == "/institutions/inst-a/report.csv"
    assert dict(seen[0].url.params) == {"table": "months", "months": "6"}
    assert seen[0].headers["accept"] == "text/csv"


async def test_a_file_name_that_is_not_plain_is_not_repeated() -> None:
    accounting = client(
        lambda _: httpx.Response(
            200,
            content=b"x",
            headers={"content-disposition": 'attachment; filename="../../etc/passwd"'},
        )
    )

    download = await accounting.acting_as("t").report_csv("inst-a", "competences", 12)

    assert download.filename == "inst-a-competences.csv"


@pytest.mark.parametrize(
    "answer",
    [
        lambda _: httpx.Response(503, text="overloaded"),
        lambda _: httpx.Response(500, json={"title": "Internal error"}),
        # Accounting does not trust intake's key set: no use asking the user to log in again.
        lambda _: httpx.Response(401, json={"title": "Unauthorized"}),
        lambda _: httpx.Response(200, text="<html>a proxy's page</html>"),
        lambda _: httpx.Response(200, json=["not", "an", "object"]),
    ],
)
async def test_failures_mean_accounting_is_unavailable(answer: Answer) -> None:
    with pytest.raises(AccountingUnavailableError):
        await client(answer).acting_as("t").progress("inst-a", "u-1")


async def test_accounting_out_of_reach_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(AccountingUnavailableError):
        await client(refuse).acting_as("t").report("inst-a", 12)


async def test_refusals_are_problems_with_their_status() -> None:
    accounting = client(
        lambda _: httpx.Response(
            403, json={"title": "Forbidden", "detail": "only the institution's staff"}
        )
    )

    with pytest.raises(ProblemError) as refused:
        await accounting.acting_as("t").report("inst-a", 12)

    assert refused.value.status == 403
    assert refused.value.title == "Forbidden"
    assert refused.value.detail == "only the institution's staff"
