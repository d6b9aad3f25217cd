"""HTTP conventions of every service: RFC 9457 problem details and the health endpoints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from microcred_shared.auth import Principal, RemoteKeySet, Role, bearer_principal
from microcred_shared.logging import get_logger

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
READINESS_TIMEOUT_SECONDS = 3.0

ReadinessCheck = Callable[[], Awaitable[object]]


async def _token_caller(request: Request) -> Principal:
    keys: RemoteKeySet = request.app.state.keys
    return await bearer_principal(request.headers.get("Authorization", ""), keys)


#: The caller of a service that trusts intake's tokens (its app keeps a ``RemoteKeySet``
#: in ``app.state.keys``).
TokenCaller = Annotated[Principal, Depends(_token_caller)]


class ProblemError(Exception):
    """A refusal to report to the client as problem details."""

    def __init__(self, status: int, title: str, detail: str = "", **extensions: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.extensions = extensions


def require_role(caller: Principal, institution_id: str, *roles: Role) -> None:
    """Refuse (403) a caller who holds none of ``roles`` at the institution."""
    if not caller.has_role(institution_id, *roles):
        role = " or ".join(r.replace("_", " ") for r in roles)
        raise ProblemError(403, "Forbidden", f"you are no {role} at {institution_id}")


def problem_response(status: int, title: str, detail: str = "", **extensions: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(jsonable_encoder(extensions))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)  # noqa: S101 - registered for this type only
        return problem_response(exc.status, exc.title, exc.detail, **exc.extensions)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        errors = [
            {
                "location": ".".join(str(part) for part in err.get("loc", ())),
                "message": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        return problem_response(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "Invalid request",
            "; ".join(f"{e['location']}: {e['message']}" for e in errors),
            errors=errors,
        )

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101
        title = HTTPStatus(exc.status_code).phrase
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else ""
        return problem_response(exc.status_code, title, detail)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    _document_problems(app)


#: The members every problem response has (RFC 9457); handlers may add extensions.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "Problem details (RFC 9457).",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
    },
}
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_PROBLEM_RESPONSE = {"description": "Problem details (RFC 9457).", "content": _PROBLEM_CONTENT}
#: What FastAPI documents for a 422 by default, which ``on_validation`` replaces.
_FASTAPI_VALIDATION = {
    "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
}
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _document_problems(app: FastAPI) -> None:
    """The OpenAPI document says what the handlers send: problem details for every error.

    A route's documented errors (FastAPI's 422 included) get the problem schema unless they
    document a body of their own, and every operation documents ``4XX`` problems (401, 403 and
    404 are answered by dependencies that no route lists).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        for path_item in document.get("paths", {}).values():
            for method, operation in path_item.items():
                if method not in _METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                for code, response in responses.items():
                    content = response.get("content")
                    if code[0] in "45" and (content is None or content == _FASTAPI_VALIDATION):
                        response["content"] = _PROBLEM_CONTENT
                responses.setdefault("4XX", _PROBLEM_RESPONSE)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        # FastAPI's validation error shapes, unless something still refers to them.
        for name in ("HTTPValidationError", "ValidationError"):
            if f'"#/components/schemas/{name}"' not in json.dumps(document):
                schemas.pop(name, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def from_app_state(name: str) -> Callable[[Request], Any]:
    """A dependency handing a route what the app keeps as ``app.state.<name>``.

    Use it as ``Annotated[Workspace, Depends(from_app_state("workspace"))]``.
    """

    def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = f"app_state_{name}"
    return dependency


def health_router(checks: Mapping[str, ReadinessCheck]) -> APIRouter:
    """``/healthz`` answers while the process runs; ``/readyz`` only when every check passes."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process answers.")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: broker, database and storage connections are up.",
        responses={503: {"description": "A dependency is down."}},
    )
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), READINESS_TIMEOUT_SECONDS)
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                results[name] = f"down: {type(exc).__name__}"
            else:
                results[name] = "up"
        if all(v == "up" for v in results.values()):
            return JSONResponse({"status": "ready", "checks": results})
        return problem_response(
            HTTPStatus.SERVICE_UNAVAILABLE,
            "Not ready",
            ", ".join(f"{k} {v}" for k, v in results.items() if v != "up"),
            checks=results,
        )

    return router
