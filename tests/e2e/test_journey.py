"""One evidence travelling through all five services, on the real stack."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import OKPKey
from pymongo import AsyncMongoClient

from microcred_issuer.keys import public_key_from_multibase
from microcred_shared.contracts import topics
from microcred_shared.demo import claim_credential, claim_link, wait_for
from microcred_shared.testing.kafka import Redeliverer, read_topic
from microcred_shared.testing.plugin import Platform
from tests.e2e.journey import (
    Journey,
    claim_emails,
    consumers_caught_up,
    counts,
    onboard_and_register,
    platform_client,
    upload_and_approve,
)

pytestmark = pytest.mark.e2e

EXPECTED = {
    "evidence": 3,
    "queued": 3,
    "ledger": 3,
    "awards": 1,
    "credentials": 1,
    "claims": 1,
    "emails": 1,
}
#: Events of one journey: 3 submitted, 3 review requests, 3 decisions, 3 reviewed, 1 awarded,
#: 1 issued, 1 notification sent.
EVENTS_PER_JOURNEY = 15


async def _true_or_none(check: Awaitable[bool]) -> bool | None:
    return True if await check else None


def emails_to(platform: Platform, journey: Journey) -> list[EmailMessage]:
    return claim_emails(platform, journey)


async def settled(
    platform: Platform, mongo: AsyncMongoClient[Any], journey: Journey
) -> dict[str, int]:
    """Wait for the email, then until every consumer has processed all that was published."""

    async def emailed() -> bool | None:
        return True if emails_to(platform, journey) else None

    await wait_for("the claim email", emailed, timeout=90)
    await wait_for(
        "consumers to catch up",
        lambda: _true_or_none(consumers_caught_up(platform, journey.institution_id)),
        timeout=60,
    )
    return await counts(platform, mongo, journey)


async def assert_credential_verifies(
    http: httpx.AsyncClient, platform: Platform, link: str
) -> dict[str, Any]:
    # As the learner: follow the e-mailed link, consent, and take the downloads and a share link.
    claimed = await claim_credential(link)
    page = await http.get(claimed.share_url)
    assert page.status_code == 200
    assert "Developing digital content" in page.text
    assert "Verified just now." in page.text  # the notifier asked the real issuer
    credential = claimed.credential
    token = claimed.credential_jwt
    assert (await http.get(link)).status_code == 404  # the link is spent

    # Verified independently of the issuer's own endpoint: resolve the did:web document over
    # HTTP, take the Multikey it names, check the EdDSA signature with joserfc.
    header = jws.extract_compact(token.encode()).headers()
    did = header["kid"].partition("#")[0]
    institution_id = did.rsplit(":", 1)[-1]
    did_doc = (
        await http.get(f"{platform.urls['issuer']}/institutions/{institution_id}/did.json")
    ).json()
    method = next(m for m in did_doc["verificationMethod"] if m["id"] == header["kid"])
    public_key = OKPKey.import_key(public_key_from_multibase(method["publicKeyMultibase"]))
    verified = jws.deserialize_compact(token, public_key, algorithms=["EdDSA"])
    # The JWT secures the credential itself; the JSON-LD form carries its Data Integrity proof.
    assert json.loads(verified.payload) == {k: v for k, v in credential.items() if k != "proof"}
    [proof] = credential["proof"]
    assert (proof["cryptosuite"], proof["verificationMethod"]) == ("eddsa-rdfc-2022", header["kid"])
    assert credential["issuer"]["id"] == did
    assert "OpenBadgeCredential" in credential["type"]

    verify_url = f"{platform.urls['issuer']}/verify"
    verdict = (await http.post(verify_url, json={"credential_jwt": token})).json()
    assert verdict["verified"] is True
    verdict = (await http.post(verify_url, json=credential)).json()
    assert (verdict["verified"], verdict["format"]) == (True, "data-integrity")
    head, payload, signature = token.split(".")
    forged_signature = ("B" if signature[0] != "B" else "C") + signature[1:]
    forged = f"{head}.{payload}.{forged_signature}"
    verdict = (await http.post(verify_url, json={"credential_jwt": forged})).json()
    assert (verdict["verified"], verdict["failed"]) == (False, "signature")
    return credential


async def test_three_approved_uploads_give_one_award_one_credential_one_email(
    platform: Platform, mongo_client: AsyncMongoClient[Any]
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        journey = await upload_and_approve(client, *await onboard_and_register(client))

        assert await settled(platform, mongo_client, journey) == EXPECTED

        [message] = emails_to(platform, journey)
        credential = await assert_credential_verifies(http, platform, claim_link(message))
        assert credential["credentialSubject"]["achievement"]["name"] == (
            "Developing digital content"
        )
        assert credential["credentialSubject"]["creditsEarned"] == 3.0
        assert {e["name"] for e in credential["evidence"]} == {
            "Workshop 1",
            "Workshop 2",
            "Workshop 3",
        }
        awarded = await read_topic(
            platform.servers.kafka_bootstrap,
            topics.COMPETENCE_AWARDED,
            keep=lambda r: r.tenant == journey.institution_id,
            until=lambda kept: len(kept) >= 1,
        )
        assert awarded[0].json()["data"]["ects"] == "3.00"
        assert awarded[0].key == journey.learner_id.encode()


async def test_every_event_delivered_twice_changes_nothing(
    platform: Platform, mongo_client: AsyncMongoClient[Any]
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        institution_id, learner = await onboard_and_register(client)
        review_topics = (
            topics.review_requests(institution_id),
            topics.review_decisions(institution_id),
        )
        redeliverer = Redeliverer(
            platform.servers.kafka_bootstrap, (*topics.ALL, *review_topics), institution_id
        )
        await redeliverer.start()
        try:
            journey = await upload_and_approve(client, institution_id, learner)

            async def all_copied() -> bool | None:
                return True if len(redeliverer.copied_ids) >= EVENTS_PER_JOURNEY else None

            await wait_for("every event delivered a second time", all_copied, timeout=90)
            assert await settled(platform, mongo_client, journey) == EXPECTED
            assert len(redeliverer.copied_ids) == EVENTS_PER_JOURNEY
        finally:
            await redeliverer.stop()
        [message] = emails_to(platform, journey)
        await assert_credential_verifies(http, platform, claim_link(message))
