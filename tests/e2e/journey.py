"""Shared steps of the end-to-end tests: drive the platform and count what it produced."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from microcred_shared.contracts import topics
from microcred_shared.demo import (
    BUILTIN_REVIEW,
    CLAIM_LINK,
    Account,
    PlatformClient,
    demo_institution,
    minimal_pdf,
    plain_text,
    wait_for,
)
from microcred_shared.service import consumer_group
from microcred_shared.testing.kafka import group_lag
from microcred_shared.testing.plugin import Platform

#: Each service's consumer group prefix and the topics it consumes.
CONSUMERS = {
    "microcred-intake": [
        topics.EVIDENCE_REVIEWED,
        topics.COMPETENCE_AWARDED,
        topics.CREDENTIAL_ISSUED,
        topics.AWARD_REVOKED,
        topics.CREDENTIAL_REVOKED,
    ],
    "microcred-review": [topics.EVIDENCE_SUBMITTED, topics.EVIDENCE_WITHDRAWN],
    "microcred-accounting": [
        topics.EVIDENCE_SUBMITTED,
        topics.EVIDENCE_WITHDRAWN,
        topics.EVIDENCE_REVIEWED,
    ],
    "microcred-issuer": [topics.COMPETENCE_AWARDED, topics.PATHWAY_AWARDED, topics.AWARD_REVOKED],
    "microcred-notifier": [topics.CREDENTIAL_ISSUED, topics.CREDENTIAL_REVOKED],
}
COMPETENCE = "digcomp-3-1"


@dataclass
class Journey:
    institution_id: str
    learner_id: str
    email: str
    evidence_ids: list[str]


def platform_client(platform: Platform, http: httpx.AsyncClient) -> PlatformClient:
    return PlatformClient(platform.urls, http, platform.servers.mail.messages)


async def onboard_and_register(client: PlatformClient) -> tuple[str, Account]:
    institution_id = f"inst-{uuid.uuid4().hex[:10]}"
    email = f"learner.{uuid.uuid4().hex[:8]}@example.org"
    await client.onboard(demo_institution(institution_id, BUILTIN_REVIEW))
    learner = await client.register(institution_id, "Grace Hopper", email, "a-long-password-1")
    return institution_id, learner


async def upload_workshops(
    client: PlatformClient, institution_id: str, learner: Account, count: int = 3
) -> list[str]:
    """Upload ``count`` workshops of 30 h for one competence; return the evidence ids.

    Each file names the institution: a learner may not file the same file twice.
    """
    evidence_ids = []
    for n in range(count):
        record = await client.upload(
            institution_id,
            learner,
            COMPETENCE,
            f"Workshop {n + 1}",
            "30",
            (f"proof-{n}.pdf", minimal_pdf(f"proof {n} for {institution_id}"), "application/pdf"),
        )
        evidence_ids.append(record["id"])
    return evidence_ids


async def upload_queued(
    client: PlatformClient, institution_id: str, learner: Account, evaluator: Account
) -> str:
    """Upload one workshop of 30 h and wait until the evaluator sees it queued."""
    [evidence_id] = await upload_workshops(client, institution_id, learner, count=1)
    await wait_for(
        f"{evidence_id} queued",
        functools.partial(client.queued, institution_id, evidence_id, evaluator),
        timeout=60,
    )
    return evidence_id


async def upload_and_approve(
    client: PlatformClient, institution_id: str, learner: Account
) -> Journey:
    """Three uploads of 30 h for one competence, then an evaluator approves each."""
    evidence_ids = await upload_workshops(client, institution_id, learner)
    evaluator = await client.evaluator(
        institution_id, f"evaluator.{uuid.uuid4().hex[:8]}@example.org", "evaluator-password"
    )
    for evidence_id in evidence_ids:
        await wait_for(
            f"{evidence_id} queued",
            functools.partial(client.queued, institution_id, evidence_id, evaluator),
            timeout=60,
        )
        await client.approve(institution_id, evidence_id, evaluator)
    return Journey(institution_id, learner.user_id, learner.email, evidence_ids)


def claim_emails(platform: Platform, journey: Journey) -> list[EmailMessage]:
    return [
        m
        for m in platform.servers.mail.messages()
        if journey.email in str(m.get("To", "")) and CLAIM_LINK.search(plain_text(m))
    ]


#: Review's consumers of every institution's review topics (by pattern), and what they read.
REVIEW_CONTRACT_CONSUMERS = {
    "microcred-review.review-decisions": topics.review_decisions,
    "microcred-review.builtin-reviewer": topics.review_requests,
}


async def consumers_caught_up(platform: Platform, institution_id: str) -> bool:
    """Whether every consumer has processed all that was published, the institution's too."""
    kafka = platform.servers.kafka_bootstrap
    for service_group, group_topics in CONSUMERS.items():
        for topic in group_topics:
            group = consumer_group(service_group, topic)
            if await group_lag(kafka, group, [topic]) != 0:
                return False
    for group, topic_of in REVIEW_CONTRACT_CONSUMERS.items():
        if await group_lag(kafka, group, [topic_of(institution_id)]) != 0:
            return False
    return True


async def counts(
    platform: Platform, mongo: AsyncMongoClient[dict[str, Any]], journey: Journey
) -> dict[str, int]:
    def db(service: str) -> Any:
        return mongo[platform.database_name(service)]

    tenant = {"institution_id": journey.institution_id}
    return {
        "evidence": await db("intake")["evidence"].count_documents(tenant),
        "queued": await db("review")["queue"].count_documents(tenant),
        "ledger": await db("accounting")["ledger"].count_documents(tenant),
        "awards": await db("accounting")["awards"].count_documents(tenant),
        "credentials": await db("issuer")["credentials"].count_documents(tenant),
        "claims": await db("notifier")["claims"].count_documents(tenant),
        "emails": len(claim_emails(platform, journey)),
    }


async def journey_to_claim_email(platform: Platform, http: httpx.AsyncClient) -> Journey:
    """A new institution and learner, three approved workshops, then their claim e-mail."""
    client = platform_client(platform, http)
    institution_id, learner = await onboard_and_register(client)
    journey = await upload_and_approve(client, institution_id, learner)

    async def emailed() -> bool | None:
        return True if claim_emails(platform, journey) else None

    await wait_for("the claim e-mail", emailed, timeout=120)
    return journey
