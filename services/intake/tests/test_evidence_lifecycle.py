"""Evidence after upload.

Refusals, privacy between learners, withdrawal, statuses that follow the review and issuance
events, resubmission, and the dashboard.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from microcred_intake.testing import Harness, evidence_form
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import CredentialIssuedV1, EvidenceReviewedV1
from microcred_shared.demo import Account, minimal_pdf
from microcred_shared.testing.kafka import publish_events, read_topic

pytestmark = pytest.mark.integration


form = evidence_form


async def upload(
    intake: Harness, learner: Account, content: bytes, name: str = "proof.pdf", **changes: str
) -> httpx.Response:
    return await intake.http.post(
        f"/institutions/{intake.institution_id}/evidence",
        data=form(**changes),
        files=[("files", (name, content, "application/pdf"))],
        headers=learner.auth,
    )


async def evidence(intake: Harness, learner: Account, evidence_id: str) -> httpx.Response:
    return await intake.http.get(
        f"/institutions/{intake.institution_id}/evidence/{evidence_id}", headers=learner.auth
    )


async def withdraw(intake: Harness, learner: Account, evidence_id: str) -> httpx.Response:
    return await intake.http.post(
        f"/institutions/{intake.institution_id}/evidence/{evidence_id}/withdraw",
        headers=learner.auth,
    )


async def status_becomes(intake: Harness, evidence_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        record: dict[str, Any] = (await evidence(intake, intake.learner, evidence_id)).json()
        if record["status"] == status:
            return record
        assert time.monotonic() < deadline, f"status stayed {record['status']}"
        await asyncio.sleep(0.2)


async def competences_on_dashboard(intake: Harness) -> list[dict[str, Any]]:
    response = await intake.http.get(
        f"/institutions/{intake.institution_id}/dashboard", headers=intake.learner.auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["ledger"] == "intake"  # intake alone: no accounting to ask
    rows: list[dict[str, Any]] = response.json()["competences"]
    return rows


async def submitted_event(intake: Harness, evidence_id: str) -> dict[str, Any]:
    [record] = await read_topic(
        intake.servers.kafka_bootstrap,
        topics.EVIDENCE_SUBMITTED,
        keep=lambda r: (
            r.tenant == intake.institution_id and r.json()["data"]["evidence_id"] == evidence_id
        ),
        until=lambda kept: len(kept) >= 1,
    )
    data: dict[str, Any] = record.json()["data"]
    return data


def review(submitted: dict[str, Any], decision: str, hours: str) -> Envelope[EvidenceReviewedV1]:
    payload = EvidenceReviewedV1.model_validate(
        {
            "decision_id": f"d-{submitted['evidence_id']}-{decision}",
            "evidence_id": submitted["evidence_id"],
            "learner_id": submitted["learner_id"],
            "learner": submitted["learner"],
            "institution": submitted["institution"],
            "competence": submitted["competence"],
            "evidence_title": submitted["title"],
            "evidence_provider": submitted["provider"],
            "start_date": submitted["start_date"],
            "end_date": submitted["end_date"],
            "decision": decision,
            "claimed_hours": submitted["hours"],
            "approved_hours": hours,
            "reason": "" if decision == "approved" else "Add the certificate's second page.",
            "evaluator_id": "evaluator-1",
            "decided_at": datetime.now(UTC),
        }
    )
    return Envelope.wrap(
        payload, source="/tests", subject=payload.evidence_id, tenant=payload.institution.id
    )


async def test_bytes_not_of_an_accepted_type_are_415(intake: Harness) -> None:
    response = await upload(intake, intake.learner, b"MZ\x90\x00 an executable", "cv.pdf")
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert await intake.objects.keys() == []


async def test_the_same_file_twice_is_refused(intake: Harness) -> None:
    content = minimal_pdf("once only")
    first = await upload(intake, intake.learner, content)
    assert first.status_code == 201
    again = await upload(intake, intake.learner, content, "renamed.pdf", title="Another title")
    assert again.status_code == 409
    assert again.json()["evidence_id"] == first.json()["id"]
    assert len(await intake.objects.keys()) == 1
    # Another learner may submit the same file (a shared course certificate template).
    other = await intake.new_learner()
    assert (await upload(intake, other, content)).status_code == 201


async def test_another_learners_evidence_is_not_there(intake: Harness) -> None:
    mine = (await upload(intake, intake.learner, minimal_pdf("mine"))).json()
    other = await intake.new_learner()

    assert (await evidence(intake, other, mine["id"])).status_code == 404
    assert (await withdraw(intake, other, mine["id"])).status_code == 404
    listed = await intake.http.get(
        f"/institutions/{intake.institution_id}/evidence", headers=other.auth
    )
    assert listed.json() == []
    assert (await evidence(intake, intake.learner, mine["id"])).status_code == 200


async def test_withdrawal_before_a_decision(intake: Harness) -> None:
    content = minimal_pdf("withdrawn")
    record = (await upload(intake, intake.learner, content)).json()

    first = await withdraw(intake, intake.learner, record["id"])
    second = await withdraw(intake, intake.learner, record["id"])

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "withdrawn"
    [event] = await read_topic(
        intake.servers.kafka_bootstrap,
        topics.EVIDENCE_WITHDRAWN,
        keep=lambda r: r.tenant == intake.institution_id,
        until=lambda kept: len(kept) >= 1,
    )
    assert event.json()["data"]["evidence_id"] == record["id"]
    # A withdrawn file may be submitted again.
    assert (await upload(intake, intake.learner, content)).status_code == 201


async def test_statuses_dashboard_and_resubmission_follow_the_events(intake: Harness) -> None:
    approved = (await upload(intake, intake.learner, minimal_pdf("a"), hours="30")).json()
    sent_back = (await upload(intake, intake.learner, minimal_pdf("b"), hours="20")).json()
    await publish_events(
        intake.servers.kafka_bootstrap,
        [
            review(await submitted_event(intake, approved["id"]), "approved", "30"),
            review(await submitted_event(intake, sent_back["id"]), "changes_requested", "0"),
        ],
    )
    await status_becomes(intake, approved["id"], "approved")
    changes = await status_becomes(intake, sent_back["id"], "changes_requested")
    assert changes["review"]["reason"] == "Add the certificate's second page."

    assert (await withdraw(intake, intake.learner, approved["id"])).status_code == 409
    [row] = await competences_on_dashboard(intake)
    assert row["competence_id"] == "digcomp-3-1"
    assert Decimal(row["approved_hours"]) == 30
    assert Decimal(row["pending_hours"]) == 0
    assert Decimal(row["approved_ects"]) == 1
    assert row["percent"] == 33
    assert row["badges"] == []

    resubmitted = await intake.http.post(
        f"/institutions/{intake.institution_id}/evidence/{sent_back['id']}/resubmit",
        data=form(hours="20", title="Course, with both pages"),
        files=[("files", ("both-pages.pdf", minimal_pdf("b, both pages"), "application/pdf"))],
        headers=intake.learner.auth,
    )
    assert resubmitted.status_code == 201, resubmitted.text
    assert resubmitted.json()["resubmission_of"] == sent_back["id"]
    assert (await evidence(intake, intake.learner, sent_back["id"])).json()[
        "status"
    ] == "resubmitted"
    [row] = await competences_on_dashboard(intake)
    assert Decimal(row["pending_hours"]) == 20

    issued = CredentialIssuedV1(
        credential_id="urn:uuid:badge-1",
        award_id="award-1",
        learner_id=intake.learner.user_id,
        learner={"name": "Ada Lovelace", "email": intake.learner.email},  # type: ignore[arg-type]
        institution=(await submitted_event(intake, approved["id"]))["institution"],
        achievement_title="Developing digital content",
        issued_at=datetime.now(UTC),
        credential={"credentialSubject": {"achievement": {"humanCode": "digcomp-3-1"}}},
        credential_jwt="a.b.c",
        verification_method="did:web:x#key-1",
    )
    await publish_events(
        intake.servers.kafka_bootstrap,
        [Envelope.wrap(issued, source="/tests", subject="b", tenant=intake.institution_id)],
    )
    deadline = time.monotonic() + 30
    while not row["badges"]:
        assert time.monotonic() < deadline, "the badge never showed"
        await asyncio.sleep(0.2)
        [row] = await competences_on_dashboard(intake)
    assert row["badges"][0]["credential_id"] == "urn:uuid:badge-1"


async def test_files_are_served_to_their_owner_and_the_institutions_evaluators(
    intake: Harness,
) -> None:
    content = minimal_pdf("the certificate itself")
    record = (await upload(intake, intake.learner, content)).json()
    path = f"/institutions/{intake.institution_id}/evidence/{record['id']}/files/0"

    own = await intake.http.get(path, headers=intake.learner.auth)
    assert own.status_code == 200
    assert own.content == content
    assert own.headers["content-type"] == "application/pdf"
    assert "attachment" in own.headers["content-disposition"]

    stranger = await intake.new_learner()
    assert (await intake.http.get(path, headers=stranger.auth)).status_code == 404
    await intake.client.grant(intake.institution_id, stranger.email, "evaluator")
    evaluator = await intake.client.login(stranger.email, "a-long-password-1")
    assert (await intake.http.get(path, headers=evaluator.auth)).content == content
    missing = await intake.http.get(path[:-1] + "5", headers=intake.learner.auth)
    assert missing.status_code == 404
