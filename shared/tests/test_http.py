"""Problem details and readiness, on an app of their own."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from microcred_shared.http import ProblemError, health_router, install_problem_handlers

pytestmark = pytest.mark.unit


async def up() -> None:
    return None


async def down() -> None:
    raise ConnectionError("refused")


def app_with(**checks: object) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(health_router(checks))  # type: ignore[arg-type]

    @app.get("/refuse")
    async def refuse() -> None:
        raise ProblemError(409, "Already decided", "ev-1", evidence_id="ev-1")

    @app.get("/items/{count}")
    async def items(count: int) -> dict[str, int]:
        return {"count": count}

    return app


async def get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(path)


async def test_ready_only_when_every_check_passes() -> None:
    ready = await get(app_with(kafka=up, mongodb=up), "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"kafka": "up", "mongodb": "up"}

    not_ready = await get(app_with(kafka=up, mongodb=down), "/readyz")
    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == "application/problem+json"
    assert not_ready.json()["checks"]["mongodb"] == "down: ConnectionError"
    assert (await get(app_with(mongodb=down), "/healthz")).status_code == 200


async def test_refusals_and_invalid_requests_are_problem_details() -> None:
    refused = await get(app_with(), "/refuse")
    assert refused.status_code == 409
    assert refused.json() == {
        "type": "about:blank",
        "title": "Already decided",
        "status": 409,
        "detail": "ev-1",
        "evidence_id": "ev-1",
    }
    invalid = await get(app_with(), "/items/many")
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    assert invalid.json()["errors"][0]["location"] == "path.count"
    missing = await get(app_with(), "/nowhere")
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not Found"
