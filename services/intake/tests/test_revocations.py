"""Revocations reach the learner: intake's consumers of award and credential revocations.

On the real stack (intake's own MongoDB database): the handlers keep each revocation once, refuse
one about another institution's or another learner's award, and the dashboard then shows the
award and its badge revoked with the reason, never as valid; pathway credentials (the issuer's
``Certificate`` achievements) show under their pathway, even one with a competence's id. The last
test sends the events through Kafka, as the issuer and accounting do.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from microcred_intake.handlers import Intake
from microcred_intake.testing import Harness
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import EventPayload
from microcred_shared.contracts.events import (
    AwardRevokedV1,
    CredentialIssuedV1,
    CredentialRevokedV1,
)
from microcred_shared.kafka import RefusedEventError
from microcred_shared.testing.kafka import publish_events

pytestmark = pytest.mark.integration

REASON = (
    "Approval of 'Podcast course' (30 hours) was reversed: the certificate was forged; "
    "the balance fell to 60 of 90 hours."
)


def award_id() -> str:
    # Unique: each test's intake reads the topics from their start, other tests' events too.
    return f"award-{uuid.uuid4().hex[:12]}"


def handlers(intake: Harness) -> Intake:
    found: Intake = intake.app.state.intake
    return found


def wrap(payload: EventPayload, tenant: str) -> Envelope[Any]:
    return Envelope.wrap(payload, source="/tests", subject="s", tenant=tenant)


async def issued(
    intake: Harness,
    award_id: str,
    achievement: str = "digcomp-3-1",
    title: str = "Content",
    *,
    pathway: bool = False,
) -> Envelope[CredentialIssuedV1]:
    """The issuer's event; a pathway's credential is a ``Certificate``, a competence's not."""
    institution = await handlers(intake).store.institution(intake.institution_id)
    assert institution is not None
    return wrap(
        CredentialIssuedV1(
            credential_id=f"urn:uuid:{uuid.uuid4()}",
            award_id=award_id,
            learner_id=intake.learner.user_id,
            learner={"name": "Ada Lovelace", "email": intake.learner.email},  # type: ignore[arg-type]
            institution=institution.reference(),
            achievement_title=title,
            issued_at=datetime.now(UTC),
            credential={
                "credentialSubject": {
                    "achievement": {
                        "achievementType": "Certificate" if pathway else "MicroCredential",
                        "humanCode": achievement,
                    }
                }
            },
            credential_jwt="a.b.c",
            verification_method="did:web:x#key-1",
        ),
        intake.institution_id,
    )


def award_revoked(
    intake: Harness,
    award_id: str,
    *,
    kind: str = "competence",
    achievement: str = "digcomp-3-1",
    learner_id: str | None = None,
    tenant: str | None = None,
) -> Envelope[AwardRevokedV1]:
    return wrap(
        AwardRevokedV1(
            award_id=award_id,
            learner_id=learner_id or intake.learner.user_id,
            award_kind=kind,  # type: ignore[arg-type]
            achievement_id=achievement,
            title="Developing digital content",
            reason=REASON,
            revoked_at=datetime.now(UTC),
        ),
        tenant or intake.institution_id,
    )


def credential_revoked(
    intake: Harness, credential_id: str, award_id: str, *, tenant: str | None = None
) -> Envelope[CredentialRevokedV1]:
    return wrap(
        CredentialRevokedV1(
            credential_id=credential_id,
            award_id=award_id,
            learner_id=intake.learner.user_id,
            reason="The award was revoked.",
            revoked_at=datetime.now(UTC),
        ),
        tenant or intake.institution_id,
    )


async def board(intake: Harness) -> dict[str, Any]:
    response = await intake.http.get(
        f"/institutions/{intake.institution_id}/dashboard", headers=intake.learner.auth
    )
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


async def revocations_kept(intake: Harness) -> int:
    return await handlers(intake).store.revocations.count_documents(
        {"learner_id": intake.learner.user_id}
    )


async def test_an_award_revocation_is_kept_once_and_shown_with_its_reason(
    intake: Harness,
) -> None:
    intake_ = handlers(intake)
    award = award_id()
    badge = await issued(intake, award)
    await intake_.on_credential_issued(badge)
    assert (await board(intake))["competences"][0]["status"] == "awarded"

    revoked = award_revoked(intake, award)
    await intake_.on_award_revoked(revoked)
    await intake_.on_award_revoked(revoked)  # redelivered
    await intake_.on_award_revoked(award_revoked(intake, award))  # republished: a new id

    assert await revocations_kept(intake) == 1
    [competence] = (await board(intake))["competences"]
    assert competence["status"] == "revoked"
    assert competence["revocation_reason"] == REASON
    [shown] = competence["badges"]
    assert shown["credential_id"] == badge.data.credential_id
    assert shown["revoked"] is True  # before the issuer's own revocation arrives
    assert shown["revocation_reason"] == REASON

    await intake_.on_credential_revoked(credential_revoked(intake, badge.data.credential_id, award))
    [competence] = (await board(intake))["competences"]
    assert competence["badges"][0]["revoked"] is True
    assert competence["badges"][0]["revocation_reason"] == "The award was revoked."


async def test_a_credential_revoked_before_it_arrives_is_never_shown_valid(
    intake: Harness,
) -> None:
    intake_ = handlers(intake)
    badge = await issued(intake, award_id())
    # Topics are not ordered with each other: the revocation may come first.
    await intake_.on_credential_revoked(
        credential_revoked(intake, badge.data.credential_id, badge.data.award_id)
    )
    await intake_.on_credential_issued(badge)

    [competence] = (await board(intake))["competences"]
    [shown] = competence["badges"]
    assert shown["revoked"] is True
    assert shown["revocation_reason"] == "The award was revoked."


async def test_revocations_of_another_institutions_or_learners_award_are_refused(
    intake: Harness,
) -> None:
    intake_ = handlers(intake)
    badge = await issued(intake, award_id())
    await intake_.on_credential_issued(badge)
    other = await intake.new_learner()

    with pytest.raises(RefusedEventError, match="another institution"):
        await intake_.on_award_revoked(
            award_revoked(intake, badge.data.award_id, tenant="inst-other")
        )
    with pytest.raises(RefusedEventError, match="another learner"):
        await intake_.on_award_revoked(
            award_revoked(intake, badge.data.award_id, learner_id=other.user_id)
        )
    with pytest.raises(RefusedEventError, match="another institution"):
        await intake_.on_credential_revoked(
            credential_revoked(
                intake, badge.data.credential_id, badge.data.award_id, tenant="inst-other"
            )
        )

    assert await revocations_kept(intake) == 0
    assert (await board(intake))["competences"][0]["status"] == "awarded"


# A pathway's id may be one of the institution's competence ids: the credential's type decides.
@pytest.mark.parametrize("pathway_id", ["digital-citizen", "digcomp-3-1"])
async def test_pathway_credentials_show_under_their_pathway(
    intake: Harness, pathway_id: str
) -> None:
    intake_ = handlers(intake)
    competence_badge = await issued(intake, award_id())
    await intake_.on_credential_issued(competence_badge)
    pathway = await issued(intake, award_id(), pathway_id, title="Citizen", pathway=True)
    await intake_.on_credential_issued(pathway)

    shown = await board(intake)
    [competence] = shown["competences"]
    assert [b["credential_id"] for b in competence["badges"]] == [
        competence_badge.data.credential_id
    ]
    [row] = shown["pathways"]
    assert (row["pathway_id"], row["title"], row["status"]) == (pathway_id, "Citizen", "awarded")
    assert [b["credential_id"] for b in row["badges"]] == [pathway.data.credential_id]

    await intake_.on_award_revoked(
        award_revoked(intake, pathway.data.award_id, kind="pathway", achievement=pathway_id)
    )
    shown = await board(intake)
    [row] = shown["pathways"]
    assert row["status"] == "revoked"
    assert row["badges"][0]["revoked"] is True
    [competence] = shown["competences"]
    assert competence["status"] == "awarded"  # the competence's own award stands
    assert competence["badges"][0]["revoked"] is False


async def test_revocations_arrive_through_kafka(intake: Harness) -> None:
    badge = await issued(intake, award_id())
    await publish_events(
        intake.servers.kafka_bootstrap,
        [
            badge,
            award_revoked(intake, badge.data.award_id),
            credential_revoked(intake, badge.data.credential_id, badge.data.award_id),
        ],
    )

    deadline = time.monotonic() + 30
    while True:
        competences = (await board(intake))["competences"]
        badges = competences[0]["badges"] if competences else []
        if badges and badges[0]["revocation_reason"] == "The award was revoked.":
            break
        assert time.monotonic() < deadline, f"the revocation never showed: {competences}"
        await asyncio.sleep(0.2)
    assert competences[0]["status"] == "revoked"
    assert await revocations_kept(intake) == 2
