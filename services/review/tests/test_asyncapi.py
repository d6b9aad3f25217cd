"""Review's topics, as its AsyncAPI document describes them."""

from __future__ import annotations

import httpx
import pytest

from microcred_review.bootstrap import build_app
from microcred_review.settings import ReviewSettings
from microcred_shared.contracts import topics

pytestmark = pytest.mark.unit


async def test_asyncapi_names_what_review_consumes_and_publishes() -> None:
    app = build_app(ReviewSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://review") as client:
        document = (await client.get("/asyncapi.json")).json()

    assert document["asyncapi"].startswith("3.")
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == {
        "microcred.evidence.submitted.v1",
        "microcred.evidence.submitted.v1.dlq",
        "microcred.evidence.withdrawn.v1",
        "microcred.evidence.withdrawn.v1.dlq",
        "microcred.evidence.reviewed.v1",
        # The review contract: each institution's topics, and the patterns review consumes.
        "microcred.review.{institution}.requests.v1",
        "microcred.review.{institution}.requests.v1.dlq",
        "microcred.review.{institution}.decisions.v1",
        "microcred.review.{institution}.decisions.v1.dlq",
        topics.REVIEW_REQUESTS_PATTERN,
        topics.REVIEW_DECISIONS_PATTERN,
    }
    schemas = document["components"]["schemas"]
    assert "Envelope[EvidenceSubmittedV1]" in schemas
    assert "Envelope[EvidenceReviewedV1]" in schemas
    assert "Envelope[ReviewRequestedV1]" in schemas
    assert "Envelope[ReviewDecisionV1]" in schemas
    reviewed = schemas["EvidenceReviewedV1"]
    assert set(reviewed["properties"]["decision"]["enum"]) == {
        "approved",
        "rejected",
        "changes_requested",
        "reversed",
    }
    assert "tenant" in schemas["Envelope[EvidenceSubmittedV1]"]["required"]
