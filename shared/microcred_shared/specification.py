"""The services' AsyncAPI documents, generated from their brokers (what ``docs/asyncapi`` keeps)."""

from __future__ import annotations

import importlib
import json
from typing import Any

from faststream.specification import AsyncAPI

from microcred_shared.conformance.contract import review_contract_document
from microcred_shared.service import VERSION
from microcred_shared.stack.config import SERVICES

#: The name of the review contract's document: what an institution's own reviewer implements.
REVIEW_CONTRACT = "review-contract"


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
    """Each service's document, and the review contract's (``review-contract``)."""
    documents = {service: asyncapi_document(service) for service in SERVICES}
    documents[REVIEW_CONTRACT] = review_contract_document()
    return {
        name: json.dumps(document, indent=2, sort_keys=True) + "\n"
        for name, document in documents.items()
    }
