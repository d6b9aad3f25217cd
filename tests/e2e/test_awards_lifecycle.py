"""Awards after they are granted, on the real stack: revoked by a reversal, stacked by pathways.

- A reversal that takes an awarded balance below the threshold revokes the award; the issuer
  revokes the credential (verification says so) and the learner's dashboard shows why. No
  second claim e-mail is sent.
- A pathway of one institution that names a partner's competence: once the learner holds both
  awards, the awarding institution signs one larger credential that references both, and the
  learner is e-mailed its claim link.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from microcred_shared.demo import BUILTIN_REVIEW, claim_link, demo_institution, wait_for
from microcred_shared.testing.plugin import Platform
from tests.e2e.journey import (
    COMPETENCE,
    claim_emails,
    onboard_and_register,
    platform_client,
    upload_and_approve,
)

pytestmark = pytest.mark.e2e

REASON = "The workshop's attendance certificate was found to be forged"


async def issuer_credentials(
    platform: Platform, mongo: AsyncMongoClient[Any], learner_id: str
) -> list[dict[str, Any]]:
    issuer = mongo[platform.database_name("issuer")]["credentials"]
    # Tombstones (awards revoked before their credential) carry no credential.
    found = issuer.find({"learner_id": learner_id, "credential_jwt": {"$exists": True}})
    return [d async for d in found]


async def test_a_reversal_revokes_the_award_its_credential_and_shows_why(
    platform: Platform, mongo_client: AsyncMongoClient[Any]
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        institution_id, learner = await onboard_and_register(client)
        journey = await upload_and_approve(client, institution_id, learner)

        async def issued() -> list[dict[str, Any]] | None:
            found = await issuer_credentials(platform, mongo_client, learner.user_id)
            return found or None

        [credential] = await wait_for("the credential", issued, timeout=90)

        async def emailed_once() -> bool | None:
            return _some(claim_emails(platform, journey))

        await wait_for("the claim e-mail", emailed_once, timeout=90)
        assert (await client.verify(credential["credential_jwt"]))["verified"] is True

        admin = await client.login("admin@microcred.localhost", "microcred-admin-dev")
        await client.reverse(institution_id, journey.evidence_ids[1], admin, REASON)

        async def revoked() -> dict[str, Any] | None:
            [row] = (await client.progress(institution_id, learner))["competences"]
            return row if row["status"] == "revoked" else None

        row = await wait_for("the award revoked", revoked, timeout=60)
        assert row["hours"] == "60"
        assert REASON in row["revocation_reason"]
        assert "fell to 60 of the 90 required" in row["revocation_reason"]

        async def credential_revoked() -> dict[str, Any] | None:
            verdict: dict[str, Any] = await client.verify(credential["credential_jwt"])
            return verdict if verdict["checks"].get("status") == "revoked" else None

        verdict = await wait_for("the credential revoked", credential_revoked, timeout=60)
        assert verdict["verified"] is False

        async def dashboard_says_why() -> str | None:
            page = await http.get(
                f"{platform.urls['intake']}/institutions/{institution_id}/dashboard",
                headers=learner.auth,
            )
            return page.text if REASON in page.text else None

        await wait_for("the dashboard to show why", dashboard_says_why, timeout=60)
        [message] = claim_emails(platform, journey)

        async def claim_page_says_revoked() -> str | None:
            page = await http.get(claim_link(message))
            return page.text if "Revoked on" in page.text else None

        page = await wait_for("the claim page to say revoked", claim_page_says_revoked, 60)
        assert REASON not in page  # the reason is the learner's dashboard's, not a link's


async def test_a_partner_competence_completes_a_pathway_signed_by_the_awarding_institution(
    platform: Platform, mongo_client: AsyncMongoClient[Any]
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        client = platform_client(platform, http)
        awarding, learner = await onboard_and_register(client)
        partner = f"inst-{uuid.uuid4().hex[:10]}"
        await client.onboard(demo_institution(partner, BUILTIN_REVIEW))
        await client.grant(partner, learner.email, "learner")
        learner = await client.login(learner.email, "a-long-password-1")
        pathway = await client.define_pathway(
            awarding,
            "digital-communicator",
            {
                "title": "Digital communicator",
                "learning_outcomes": ["Creates and shares digital content across institutions"],
                "eqf_level": 5,
                "rule": "all_of",
                "components": [
                    {"institution_id": awarding, "competence_id": COMPETENCE},
                    {"institution_id": partner, "competence_id": COMPETENCE},
                ],
                "partners": [partner],
            },
        )
        await client.share_awards(partner, awarding)
        assert pathway["rule"] == "all_of"

        await upload_and_approve(client, awarding, learner)
        await upload_and_approve(client, partner, learner)

        async def pathway_credential() -> dict[str, Any] | None:
            found = await issuer_credentials(platform, mongo_client, learner.user_id)
            stacked = [c for c in found if c["institution_id"] == awarding and len(found) == 3]
            return next(
                (c for c in stacked if "Digital communicator" in str(c["credential"])), None
            )

        credential = await wait_for("the pathway's credential", pathway_credential, timeout=120)
        verdict = await client.verify(credential["credential_jwt"])
        assert verdict["verified"] is True
        assert verdict["checks"]["issuer"].endswith(f":institutions:{awarding}")
        text = str(credential["credential"])
        partner_credentials = [
            c
            for c in await issuer_credentials(platform, mongo_client, learner.user_id)
            if c["institution_id"] == partner
        ]
        assert partner_credentials
        assert partner_credentials[0]["credential_id"] in text

        [shown] = (await client.progress(awarding, learner))["pathways"]
        assert (shown["status"], shown["completed"], shown["required"]) == ("awarded", 2, 2)

        async def emailed() -> bool | None:
            return _some(
                [
                    m
                    for m in platform.servers.mail.messages()
                    if learner.email in str(m.get("To", ""))
                    and str(m.get("Subject", "")).endswith("Digital communicator")
                ]
            )

        await wait_for("the pathway's claim e-mail", emailed, timeout=60)


def _some(found: list[Any]) -> bool | None:
    return True if found else None
