"""The services' AsyncAPI documents, generated from their brokers (what ``docs/asyncapi`` keeps)."""

from __future__ import annotations

import importlib
import json
from typing import Any

from faststream.specification import AsyncAPI

from microcred_shared.service import VERSION
from microcred_shared.stack.config import SERVICES


def asyncapi_document(service: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of one service, built without connecting to anything."""
    bootstrap = importlib.import_module(f"microcred_{service}.bootstrap")
    app = bootstrap.build_app()
    runtime = app.state.runtime
    document: dict[str, Any] = (
        AsyncAPI(runtime.broker, title=app.title, version=VERSION, description=app.description)
        .to_specification()
        .to_jsonable()
    )
    # The servers block names the development broker; deployments have their own.
    document.pop("servers", None)
    for channel in document.get("channels", {}).values():
        channel.pop("servers", None)
    return document


def asyncapi_documents() -> dict[str, str]:
    return {
        service: json.dumps(asyncapi_document(service), indent=2, sort_keys=True) + "\n"
        for service in SERVICES
    }
