"""Evidence upload on real Kafka, SecantusDB and S3: what is stored, and what a refusal stores."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from microcred_intake.testing import Harness, evidence_form
from microcred_shared.contracts import topics
from microcred_shared.demo import minimal_pdf
from microcred_shared.testing.kafka import read_topic
from microcred_shared.testing.servers import Servers

pytestmark = pytest.mark.integration

PDF = minimal_pdf("evidence")


async def upload(intake: Harness, data: dict[str, str], files: Any = "default") -> httpx.Response:
    if files == "default":
        files = [("files", ("certificate.pdf", PDF, "application/pdf"))]
    return await intake.http.post(
        f"/institutions/{intake.institution_id}/evidence",
        data=data,
        files=files or None,
        headers=intake.learner.auth,
    )


async def evidence_events(servers: Servers, intake: Harness, until_id: str) -> list[Any]:
    """Every evidence-submitted event of this test's institution, up to ``until_id``'s."""
    records = await read_topic(
        servers.kafka_bootstrap,
        topics.EVIDENCE_SUBMITTED,
        keep=lambda r: r.tenant == intake.institution_id,
        until=lambda kept: any(r.json()["data"]["evidence_id"] == until_id for r in kept),
    )
    return [r.json() for r in records]


async def test_upload_stores_file_record_and_event(intake: Harness, servers: Servers) -> None:
    response = await upload(intake, evidence_form(hours="12.5"))

    assert response.status_code == 201, response.text
    record = response.json()
    assert record["status"] == "submitted"
    [stored] = record["files"]
    assert stored["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert stored["size"] == len(PDF)
    assert stored["content_type"] == "application/pdf"
    head = await intake.objects.head(stored["key"])
    assert head is not None
    assert head["ContentLength"] == len(PDF)
    assert head["Metadata"]["sha256"] == stored["sha256"]

    [event] = await evidence_events(servers, intake, record["id"])
    assert event["type"] == "eu.microcred.evidence.submitted.v1"
    assert event["tenant"] == intake.institution_id
    assert event["data"]["hours"] == "12.5"
    assert event["data"]["competence"]["hours_per_ects"] == "30"
    assert event["data"]["files"][0]["sha256"] == stored["sha256"]

    shown = await intake.http.get(
        f"/institutions/{intake.institution_id}/evidence/{record['id']}",
        headers=intake.learner.auth,
    )
    assert shown.json()["title"] == "Course on video editing"


BAD_UPLOADS = {
    "no file": ({}, []),
    "zero hours": ({"hours": "0"}, "default"),
    "negative hours": ({"hours": "-30"}, "default"),
    "hours not a number": ({"hours": "thirty"}, "default"),
    "unknown competence": ({"competence_id": "no-such-competence"}, "default"),
    "hours above the institution's maximum": ({"hours": "1000.5"}, "default"),
    "dates in the future": ({"end_date": "2999-01-01"}, "default"),
    "missing title": ({"title": "<absent>"}, "default"),
    "end before start": ({"end_date": "2025-01-01"}, "default"),
    "empty file": ({}, [("files", ("empty.pdf", b"", "application/pdf"))]),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
async def test_bad_upload_is_refused_and_stores_nothing(
    case: str, intake: Harness, servers: Servers
) -> None:
    changes, files = BAD_UPLOADS[case]

    response = await upload(intake, evidence_form(**changes), files)

    assert response.status_code == 422, response.text
    if case != "no file":
        assert response.json()["errors"][0]["location"].startswith("body.")
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["title"]
    assert await intake.objects.keys() == []
    client: AsyncMongoClient[Any] = AsyncMongoClient(servers.mongodb_uri)
    try:
        evidence = client[intake.settings.mongodb_database]["evidence"]
        assert await evidence.count_documents({}) == 0
    finally:
        await client.close()
    # No event either: a good upload afterwards is the first and only event of the institution
    # (same learner, so same partition, so a refused upload's event would come before it).
    good = (await upload(intake, evidence_form())).json()
    events = await evidence_events(servers, intake, good["id"])
    assert [e["data"]["evidence_id"] for e in events] == [good["id"]]


async def test_too_large_file_is_refused_with_413(servers: Servers, intake: Harness) -> None:
    limit = intake.settings.max_file_bytes
    big = PDF + b"0" * (limit - len(PDF) + 1)
    response = await upload(
        intake, evidence_form(), [("files", ("big.pdf", big, "application/pdf"))]
    )
    assert response.status_code == 413
    assert await intake.objects.keys() == []


async def test_upload_to_unknown_institution_is_404(intake: Harness) -> None:
    response = await intake.http.post(
        "/institutions/nowhere/evidence",
        data=evidence_form(),
        files=[("files", ("c.pdf", PDF, "application/pdf"))],
        headers=intake.learner.auth,
    )
    assert response.status_code == 403  # no role there, whether or not it exists
