"""The AsyncAPI documents in docs/asyncapi are the ones the code generates.

An institution implements its own reviewer from these documents, so a contract change that is
not written to them fails here: regenerate with ``.venv/bin/microcred asyncapi``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from microcred_shared.specification import asyncapi_documents

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"


@pytest.mark.parametrize(("service", "document"), sorted(asyncapi_documents().items()))
def test_committed_document_matches_the_code(service: str, document: str) -> None:
    committed = DOCS / f"{service}.json"
    assert committed.exists(), f"run: microcred asyncapi (missing {committed})"
    assert committed.read_text() == document, f"{committed} is stale: run microcred asyncapi"
