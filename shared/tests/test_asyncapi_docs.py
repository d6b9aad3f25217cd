"""The AsyncAPI documents in docs/asyncapi are the ones the code generates.

An institution implements its own reviewer from these documents (``review-contract.json`` above
all), so a contract change that is not written to them fails here: regenerate with
``.venv/bin/microcred asyncapi``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microcred_shared.specification import REVIEW_CONTRACT, asyncapi_documents

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"


@pytest.mark.parametrize(("service", "document"), sorted(asyncapi_documents().items()))
def test_committed_document_matches_the_code(service: str, document: str) -> None:
    committed = DOCS / f"{service}.json"
    assert committed.exists(), f"run: microcred asyncapi (missing {committed})"
    assert committed.read_text() == document, f"{committed} is stale: run microcred asyncapi"


def test_the_review_contract_is_documented_from_the_reviewers_side() -> None:
    """What an institution implements: receive requests, send decisions, read refusals."""
    document = json.loads((DOCS / f"{REVIEW_CONTRACT}.json").read_text())

    assert document["asyncapi"].startswith("3.")
    operations = {
        document["channels"][op["channel"]["$ref"].rsplit("/", 1)[-1]]["address"]: op["action"]
        for op in document["operations"].values()
    }
    assert operations == {
        "microcred.review.{institution}.requests.v1": "receive",
        "microcred.review.{institution}.decisions.v1": "send",
        "microcred.review.{institution}.decisions.v1.dlq": "receive",
    }
    for channel in document["channels"].values():
        assert set(channel["parameters"]) == {"institution"}
    messages = document["components"]["messages"]
    payloads = {
        channel["address"]: messages[ref.rsplit("/", 1)[-1]]["payload"]["$ref"]
        for channel in document["channels"].values()
        for ref in (m["$ref"] for m in channel["messages"].values())
    }
    assert payloads["microcred.review.{institution}.requests.v1"].endswith(
        "Envelope%5BReviewRequestedV1%5D"
    )
    assert payloads["microcred.review.{institution}.decisions.v1"].endswith(
        "Envelope%5BReviewDecisionV1%5D"
    )
    schemas = document["components"]["schemas"]
    assert "tenant" in schemas["Envelope[ReviewDecisionV1]"]["required"]
    assert "decision_id" in schemas["ReviewDecisionV1"]["required"]
    [server] = document["servers"].values()
    assert document["components"]["securitySchemes"]["scram512"]["type"] == "scramSha512"
    assert server["security"] == [{"$ref": "#/components/securitySchemes/scram512"}]
