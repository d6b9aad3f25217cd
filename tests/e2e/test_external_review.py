"""An institution's own reviewer on the running platform: the example rule-based reviewer.

The institution reviews in external mode. Its reviewer runs as its own process (``python -m
rule_based_reviewer``), connected with the credentials ``microcred kafka reviewer`` provisions
(its own SCRAM principal, limited by ACLs to its institution's review topics), and trusts the
provider the learner's evidence names. Three uploads of 30 h become three approvals, one award,
one signed credential and one claim email, with no evaluator involved; an upload from another
provider is sent back to the learner with the reviewer's reason.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from microcred_shared.contracts import topics
from microcred_shared.demo import Account, PlatformClient, demo_institution, minimal_pdf, wait_for
from microcred_shared.testing.kafka import read_topic
from microcred_shared.testing.plugin import Platform
from microcred_shared.testing.reviewer import provision_reviewer, reviewer_process
from tests.e2e.journey import (
    COMPETENCE,
    Journey,
    claim_emails,
    platform_client,
    upload_workshops,
)

pytestmark = pytest.mark.e2e

EXTERNAL_REVIEW = {"mode": "external", "second_approval_above_hours": None}
#: The provider PlatformClient.upload names.
TRUSTED = "Open Learning Hub"


async def upload_from(
    client: PlatformClient, institution_id: str, learner: Account, provider: str
) -> Any:
    """One upload of 10 h naming ``provider`` (PlatformClient.upload always names TRUSTED)."""
    start = datetime.now(UTC).date() - timedelta(days=30)
    response = await client.http.post(
        f"{client.urls['intake']}/institutions/{institution_id}/evidence",
        headers=learner.auth,
        data={
            "competence_id": COMPETENCE,
            "title": "Weekend bootcamp",
            "hours": "10",
            "start_date": start.isoformat(),
            "end_date": (start + timedelta(days=2)).isoformat(),
            "provider": provider,
            "kind": "course",
        },
        files=[("files", ("bootcamp.pdf", minimal_pdf("bootcamp"), "application/pdf"))],
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_an_external_reviewer_approves_and_the_credential_is_issued(
    platform: Platform, mongo_client: AsyncMongoClient[Any], tmp_path: Path
) -> None:
    institution = f"inst-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        # External mode: review creates the institution's topics and asks its reviewer.
        await client.onboard(demo_institution(institution, EXTERNAL_REVIEW))
        env = {
            **await provision_reviewer(platform.servers, institution),
            "REVIEWER_INSTITUTION_ID": institution,
            "REVIEWER_TRUSTED_PROVIDERS": f"{TRUSTED}, Coursera",
        }
        if platform.servers.kafka.credentials is not None:
            # Its own principal, the one the broker's ACLs confine to its topics.
            assert env["REVIEWER_KAFKA_SASL_USERNAME"] == f"reviewer-{institution}"
        async with reviewer_process(env, tmp_path / "reviewer.log"):
            learner = await client.register(
                institution,
                "Grace Hopper",
                f"learner.{uuid.uuid4().hex[:8]}@example.org",
                "a-long-password-1",
            )
            evidence_ids = await upload_workshops(client, institution, learner)
            untrusted = await upload_from(client, institution, learner, "Unheard-of Bootcamp")
            journey = Journey(institution, learner.user_id, learner.email, evidence_ids)

            async def emailed() -> bool | None:
                return True if claim_emails(platform, journey) else None

            await wait_for("the claim email", emailed, timeout=120)
            reviewed = await read_topic(
                platform.servers.kafka,
                topics.EVIDENCE_REVIEWED,
                keep=lambda r: r.tenant == institution,
                until=lambda kept: len(kept) >= 4,
            )

    decisions = {r.json()["data"]["evidence_id"]: r.json()["data"] for r in reviewed}
    assert set(decisions) == {*evidence_ids, untrusted["id"]}
    for evidence_id in evidence_ids:
        assert decisions[evidence_id]["decision"] == "approved"
        assert decisions[evidence_id]["approved_hours"] == "30"
        assert decisions[evidence_id]["evaluator_id"] == "rule-based-reviewer"
    sent_back = decisions[untrusted["id"]]
    assert sent_back["decision"] == "changes_requested"
    assert "Unheard-of Bootcamp" in sent_back["reason"]

    tenant = {"institution_id": institution}
    assert (
        await mongo_client[platform.database_name("review")]["queue"].count_documents(tenant) == 0
    ), "the built-in workspace queued evidence of an institution in external mode"
    assert (
        await mongo_client[platform.database_name("accounting")]["awards"].count_documents(tenant)
        == 1
    )
    assert (
        await mongo_client[platform.database_name("issuer")]["credentials"].count_documents(tenant)
        == 1
    )
    assert len(claim_emails(platform, journey)) == 1
