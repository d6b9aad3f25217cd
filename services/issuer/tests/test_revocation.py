"""Revoking a credential: once, before or after its award, only by its own institution.

The handler tests run on the real database with a recording publisher; the last test runs the
issuer's app on the real Kafka broker, where the topics are read apart and a refusal is
dead-lettered.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from microcred_issuer.bootstrap import build_app
from microcred_issuer.credential import credential_id_for, credential_id_key
from microcred_issuer.handlers import Issuer
from microcred_issuer.settings import IssuerSettings
from microcred_issuer.statuslist import bit_is_set, decode_list
from microcred_shared.contracts import topics
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.kafka import RefusedEventError
from microcred_shared.testing.apps import running, service_env
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.kafka import Record, publish_events, read_topic
from microcred_shared.testing.servers import Servers
from services.issuer.tests.samples import (
    AWARDING,
    CREDENTIAL_ID_KEY,
    PARTNER,
    PUBLIC_URL,
    LegacyIssuer,
    competence_award,
    credential_id_of,
    legacy_credential_id,
    onboard,
    pathway_award,
    revocation,
)

pytestmark = pytest.mark.integration

REASON = "An approval was reversed: misconduct found."


def published(issuer: Issuer, topic: str, award_id: str) -> list[dict[str, Any]]:
    """Every copy published on ``topic`` for ``award_id``, duplicates included."""
    assert isinstance(issuer.publisher, RecordingPublisher)
    return [
        document
        for published_topic, _, document in issuer.publisher.published
        if published_topic == topic and document["data"]["award_id"] == award_id
    ]


async def test_revoking_an_issued_credential_once_under_redelivery(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    await issuer.on_competence_awarded(competence_award("award-1"))
    [issued] = published(issuer, topics.CREDENTIAL_ISSUED, "award-1")
    token = issued["data"]["credential_jwt"]
    before = (await http.post("/verify", json={"credential_jwt": token})).json()
    assert before["verified"] is True
    assert before["checks"]["status"] == "active"

    event = revocation("award-1", reason=REASON)
    for _ in range(3):
        await issuer.on_award_revoked(event)
    # The same revocation in another envelope (a producer that lost its event id): still once.
    await issuer.on_award_revoked(revocation("award-1", reason=REASON))

    [revoked] = published(issuer, topics.CREDENTIAL_REVOKED, "award-1")
    assert revoked["id"] == deterministic_event_id("credential-revoked", "award-1")
    assert revoked["tenant"] == AWARDING
    assert revoked["data"]["credential_id"] == credential_id_of("award-1")
    assert revoked["data"]["reason"] == REASON
    assert len(published(issuer, topics.CREDENTIAL_ISSUED, "award-1")) == 1
    stored = await issuer.credentials.find_one({"_id": "award-1"})
    assert stored is not None
    assert stored["status"] == "revoked"
    assert [entry["topic"] for entry in stored["outbox"]] == [
        topics.CREDENTIAL_ISSUED,
        topics.CREDENTIAL_REVOKED,
    ]
    assert all(entry["sent"] for entry in stored["outbox"])

    verdict = (await http.post("/verify", json={"credential_jwt": token})).json()
    assert verdict["verified"] is False
    assert verdict["checks"] == {
        "signature": True,
        "issuer": issuer.did(AWARDING),
        "status": "revoked",
        "dates": True,
    }
    assert verdict["failed"] == "status"
    # Anyone may verify, and ask the status: they learn that it was revoked and when, never
    # why (an administrator's words about the learner's evidence); the reason stays stored.
    assert verdict["error"] == "revoked"
    assert verdict["revocation"] == {
        "status": "revoked",
        "revoked_at": revoked["data"]["revoked_at"],
    }
    status_answer = await http.get(f"/credentials/{credential_id_of('award-1')}/status")
    status = status_answer.json()
    assert status == {
        "credential_id": credential_id_of("award-1"),
        "status": "revoked",
        "revoked_at": revoked["data"]["revoked_at"],
    }
    for public in (json.dumps(verdict), status_answer.text):
        assert "misconduct" not in public
        assert "reason" not in public
    assert stored["revocation_reason"] == REASON


async def test_a_revocation_whose_event_could_not_be_published_publishes_it_on_redelivery(
    issuer: Issuer,
) -> None:
    await issuer.on_competence_awarded(competence_award("award-5"))
    assert isinstance(issuer.publisher, RecordingPublisher)
    issuer.publisher.failing = True
    with pytest.raises(ConnectionError):
        await issuer.on_award_revoked(revocation("award-5"))
    # The credential is revoked and its event waits with it, in the same document.
    stored = await issuer.credentials.find_one({"_id": "award-5"})
    assert stored is not None
    assert stored["status"] == "revoked"
    assert [e["sent"] for e in stored["outbox"] if e["topic"] == topics.CREDENTIAL_REVOKED] == [
        False
    ]

    issuer.publisher.failing = False
    await issuer.on_award_revoked(revocation("award-5"))
    await issuer.on_award_revoked(revocation("award-5"))
    assert len(published(issuer, topics.CREDENTIAL_REVOKED, "award-5")) == 1


async def test_a_revocation_before_its_award_withholds_the_credential(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    await issuer.on_award_revoked(revocation("award-2"))
    await issuer.on_award_revoked(revocation("award-p", kind="pathway"))
    for _ in range(2):
        await issuer.on_competence_awarded(competence_award("award-2"))
        await issuer.on_pathway_awarded(pathway_award("award-p"))
        await issuer.on_award_revoked(revocation("award-2"))

    assert issuer.publisher == RecordingPublisher()  # nothing at all: no credential, no event
    for award_id in ("award-2", "award-p"):
        credential_id = credential_id_of(award_id)
        assert await issuer.credential(credential_id) is None
        assert await issuer.status(credential_id) is None
        assert (await http.get(f"/credentials/{credential_id}/status")).status_code == 404
        tombstone = await issuer.credentials.find_one({"_id": award_id})
        assert tombstone is not None
        assert "credential" not in tombstone
        assert "credential_jwt" not in tombstone


async def test_an_award_and_its_revocation_racing_never_leave_a_standing_credential(
    issuer: Issuer,
) -> None:
    award_ids = [f"award-race-{n}" for n in range(24)]

    async def both(n: int, award_id: str) -> None:
        award = issuer.on_competence_awarded(competence_award(award_id))
        revoke = issuer.on_award_revoked(revocation(award_id))
        await asyncio.gather(*((award, revoke) if n % 2 else (revoke, award)))

    await asyncio.gather(*(both(n, a) for n, a in enumerate(award_ids)))

    for award_id in award_ids:
        # Two handlers flushing one document may both publish an unsent event (at least
        # once): consumers dedupe by id, so distinct events are what must be exactly one.
        issued = {e["id"] for e in published(issuer, topics.CREDENTIAL_ISSUED, award_id)}
        revoked = {e["id"] for e in published(issuer, topics.CREDENTIAL_REVOKED, award_id)}
        stored = await issuer.credentials.find_one({"_id": award_id})
        assert stored is not None
        assert stored["status"] == "revoked"
        # Either it never was issued, or its revocation followed it, exactly once.
        assert (len(issued), len(revoked)) in {(0, 0), (1, 1)}, award_id
        assert ("credential" in stored) == bool(issued)


async def test_a_revocation_from_another_institution_is_refused_and_changes_nothing(
    issuer: Issuer,
) -> None:
    await issuer.on_competence_awarded(competence_award("award-3"))
    before = await issuer.credentials.find_one({"_id": "award-3"})

    with pytest.raises(RefusedEventError, match="not an award of institution inst-b"):
        await issuer.on_award_revoked(revocation("award-3", tenant=PARTNER))
    with pytest.raises(RefusedEventError, match="not an award of learner l-2"):
        await issuer.on_award_revoked(revocation("award-3", learner_id="l-2"))

    assert await issuer.credentials.find_one({"_id": "award-3"}) == before
    assert published(issuer, topics.CREDENTIAL_REVOKED, "award-3") == []
    [issued] = published(issuer, topics.CREDENTIAL_ISSUED, "award-3")
    assert (await issuer.verify(issued["data"]["credential_jwt"]))["verified"] is True


async def test_a_foreign_revocation_read_before_the_award_does_not_withhold_it(
    issuer: Issuer,
) -> None:
    # Nothing to check it against yet, so it is kept; the award shows whose it really is.
    await issuer.on_award_revoked(revocation("award-4", tenant=PARTNER))
    await issuer.on_competence_awarded(competence_award("award-4"))

    [issued] = published(issuer, topics.CREDENTIAL_ISSUED, "award-4")
    assert (await issuer.verify(issued["data"]["credential_jwt"]))["checks"]["status"] == "active"
    with pytest.raises(RefusedEventError):
        await issuer.on_award_revoked(revocation("award-4", tenant=PARTNER))
    await issuer.on_award_revoked(revocation("award-4"))
    assert len(published(issuer, topics.CREDENTIAL_REVOKED, "award-4")) == 1


async def test_a_credential_issued_before_ids_were_keyed_is_revoked_by_its_own_id(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    legacy = LegacyIssuer(
        issuer.database, issuer.publisher, issuer.cipher, PUBLIC_URL, CREDENTIAL_ID_KEY
    )
    await legacy.on_competence_awarded(competence_award("award-old"))
    [issued] = published(issuer, topics.CREDENTIAL_ISSUED, "award-old")
    old_id = legacy_credential_id("award-old")
    assert issued["data"]["credential_id"] == old_id != credential_id_of("award-old")

    # The issuer of today: the award found by its id, the credential by the id it was issued with.
    for _ in range(2):
        await issuer.on_award_revoked(revocation("award-old", reason=REASON))

    [revoked] = published(issuer, topics.CREDENTIAL_REVOKED, "award-old")
    assert revoked["data"]["credential_id"] == old_id
    assert revoked["subject"] == old_id
    status = await http.get(f"/credentials/{old_id}/status")
    assert status.json() == {
        "credential_id": old_id,
        "status": "revoked",
        "revoked_at": revoked["data"]["revoked_at"],
    }
    verdict = await issuer.verify(issued["data"]["credential_jwt"])
    assert verdict["checks"]["status"] == "revoked"
    assert await issuer.credential(credential_id_of("award-old")) is None


async def test_the_status_of_an_unknown_credential_is_not_found(http: httpx.AsyncClient) -> None:
    answer = await http.get(f"/credentials/{credential_id_of('never-awarded')}/status")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


# --- on the real broker ----------------------------------------------------------------------


def about(*award_ids: str) -> Callable[[Record], bool]:
    """Keeps the events of ``award_ids`` (what other tests left on the topic is skipped)."""

    def keep(record: Record) -> bool:
        try:
            document = record.json()
        except ValueError:
            return False
        return isinstance(document, dict) and document.get("data", {}).get("award_id") in award_ids

    return keep


def award_ids_of(records: list[Record]) -> list[str]:
    return [str(r.json()["data"]["award_id"]) for r in records]


async def test_on_kafka_revocations_withhold_revoke_and_refuse_and_pathways_are_issued(
    servers: Servers,
    topics_ready: None,
) -> None:
    run = uuid.uuid4().hex[:8]
    learner = f"l-{run}"
    issued_first, withheld, sentinel, pathway = (f"{run}-{n}" for n in ("a1", "a2", "a3", "p"))
    settings = IssuerSettings(**service_env(servers, "issuer"))  # type: ignore[arg-type]
    app = build_app(settings)
    async with running(app) as http:
        await onboard(app.state.issuer)
        await publish_events(servers.kafka, [competence_award(issued_first, learner_id=learner)])
        [first] = await read_topic(
            servers.kafka,
            topics.CREDENTIAL_ISSUED,
            keep=about(issued_first),
            until=bool,
        )

        # One learner's events share a partition, so they are handled in this order: when the
        # last one's credential.revoked is out, the tombstone and the refusal came before it.
        await publish_events(
            servers.kafka,
            [
                revocation(issued_first, tenant=PARTNER, learner_id=learner),
                revocation(withheld, learner_id=learner),
                revocation(issued_first, learner_id=learner, reason=REASON),
            ],
        )
        [revoked] = await read_topic(
            servers.kafka,
            topics.CREDENTIAL_REVOKED,
            keep=about(issued_first, withheld),
            until=bool,
        )
        assert revoked.json()["data"]["award_id"] == issued_first
        [refused] = await read_topic(
            servers.kafka,
            topics.dead_letter(topics.AWARD_REVOKED),
            keep=about(issued_first),
            until=bool,
        )
        assert refused.json()["tenant"] == PARTNER
        assert refused.headers["dlq-reason"].decode().startswith("refused: award ")

        # The withheld award comes before a sentinel award of the same learner: once the
        # sentinel's credential is out, the withheld award was handled, and issued nothing.
        await publish_events(
            servers.kafka,
            [
                competence_award(withheld, learner_id=learner, competence_id="c-2"),
                competence_award(sentinel, learner_id=learner, competence_id="c-3"),
                pathway_award(
                    pathway, own_award_id=sentinel, partner_award_id="p1", learner_id=learner
                ),
            ],
        )
        credentials = await read_topic(
            servers.kafka,
            topics.CREDENTIAL_ISSUED,
            keep=about(withheld, sentinel, pathway),
            until=lambda kept: {sentinel, pathway} <= set(award_ids_of(kept)),
        )
        assert withheld not in award_ids_of(credentials)

        token = first.json()["data"]["credential_jwt"]
        verdict = (await http.post("/verify", json={"credential_jwt": token})).json()
        assert verdict["checks"]["status"] == "revoked"
        assert verdict["verified"] is False
        assert "reason" not in verdict["revocation"]
        assert "misconduct" not in json.dumps(verdict)
        # The public revocation list, served by the running issuer, shows the bit.
        [entry, _] = first.json()["data"]["credential"]["credentialStatus"]
        listed = await http.get(urlsplit(entry["statusListCredential"]).path)
        assert listed.status_code == 200
        bits = decode_list(listed.json()["credentialSubject"]["encodedList"])
        assert bit_is_set(bits, int(entry["statusListIndex"]))
        # The running issuer's ids are keyed by its own master key.
        key = credential_id_key(settings.master_key_bytes())
        assert first.json()["data"]["credential_id"] == credential_id_for(key, issued_first)
        assert revoked.json()["data"]["credential_id"] == credential_id_for(key, issued_first)
        status = await http.get(f"/credentials/{credential_id_for(key, withheld)}/status")
        assert status.status_code == 404
        [pathway_credential] = [c for c in credentials if c.json()["data"]["award_id"] == pathway]
        data = pathway_credential.json()["data"]
        verdict = (
            await http.post("/verify", json={"credential_jwt": data["credential_jwt"]})
        ).json()
        assert verdict["verified"] is True
        assert verdict["checks"]["issuer"] == verdict["credential"]["issuer"]["id"]
        assert verdict["checks"]["issuer"].endswith(f":institutions:{AWARDING}")
        assert credential_id_for(key, "p1") in {e["id"] for e in data["credential"]["evidence"]}
