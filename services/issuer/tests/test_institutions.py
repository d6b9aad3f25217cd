"""Institutions the issuer signs for: registered at onboarding (with their first key) and checked.

Registration (``PUT /institutions/{id}``) is the platform administrator's, idempotent, and makes
the institution's first key; awards of an institution not registered, or of a competence it did
not register, are refused and change nothing. The last test runs the issuer's app on the real
Kafka broker: the refused awards are on the dead-letter topic with their reasons.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from microcred_issuer.bootstrap import build_app
from microcred_issuer.handlers import Issuer
from microcred_issuer.settings import IssuerSettings
from microcred_shared.contracts import topics
from microcred_shared.crypto import MasterKeyCipher
from microcred_shared.kafka import RefusedEventError
from microcred_shared.testing.apps import running, service_env
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.kafka import Record, publish_events, read_topic
from microcred_shared.testing.servers import Servers
from services.issuer.tests.callers import LocalKeySet, token
from services.issuer.tests.samples import (
    AWARDING,
    CREDENTIAL_ID_KEY,
    MASTER,
    PARTNER,
    PUBLIC_URL,
    competence_award,
    onboard,
    pathway_award,
)

pytestmark = pytest.mark.integration

PLATFORM_ADMIN = token(platform_admin=True)


@pytest.fixture
async def issuer(database: AsyncDatabase[Any]) -> Issuer:
    issuer = Issuer(
        database, RecordingPublisher(), MasterKeyCipher(MASTER), PUBLIC_URL, CREDENTIAL_ID_KEY
    )
    await issuer.keys.prepare()
    await issuer.ensure_indexes()
    return issuer


def registration(*competences: str) -> dict[str, Any]:
    return {"name": "Instituto A", "country": "PT", "competences": list(competences)}


async def test_registration_is_the_platform_admins_and_makes_the_first_key(
    http: httpx.AsyncClient, issuer: Issuer
) -> None:
    path = f"/institutions/{AWARDING}"
    # Before registration: no key, no DID document.
    assert (await http.get(f"{path}/keys")).json()["keys"] == []
    assert (await http.get(f"{path}/did.json")).status_code == 404
    assert (await http.get(path)).status_code == 404

    anonymous = await http.put(path, json=registration("c-1"))
    assert anonymous.status_code == 401, anonymous.text
    institution_admin = await http.put(
        path, json=registration("c-1"), headers=token((AWARDING, "institution_admin"))
    )
    assert institution_admin.status_code == 403, institution_admin.text
    assert institution_admin.headers["content-type"].startswith("application/problem+json")
    assert await issuer.database["keys"].count_documents({}) == 0
    assert await issuer.institutions.get(AWARDING) is None

    registered = await http.put(path, json=registration("c-1", "c-2"), headers=PLATFORM_ADMIN)
    assert registered.status_code == 200, registered.text
    did = issuer.did(AWARDING)
    assert registered.json() == {
        "id": AWARDING,
        "name": "Instituto A",
        "country": "PT",
        "competences": ["c-1", "c-2"],
        "did": did,
        "key_id": f"{did}#key-1",
    }
    [key] = (await http.get(f"{path}/keys")).json()["keys"]
    assert (key["key_id"], key["status"]) == ("key-1", "active")
    assert (await http.get(f"{path}/did.json")).status_code == 200
    assert (await http.get(path)).json() == registered.json()

    # Once registered, its own administrators add competences (a catalogue import); another
    # institution's administrators may not.
    imported = await http.put(
        path, json=registration("c-3"), headers=token((AWARDING, "institution_admin"))
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["competences"] == ["c-1", "c-2", "c-3"]
    foreign = await http.put(
        path, json=registration("c-4"), headers=token(("inst-other", "institution_admin"))
    )
    assert foreign.status_code == 403, foreign.text


async def test_registration_is_idempotent_and_adds_competences(
    http: httpx.AsyncClient, issuer: Issuer
) -> None:
    path = f"/institutions/{AWARDING}"
    first = await http.put(path, json=registration("c-1", "c-2"), headers=PLATFORM_ADMIN)
    again = await http.put(path, json=registration("c-1", "c-2"), headers=PLATFORM_ADMIN)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    # A catalogue import registers again with more competences: added, none dropped, same key.
    imported = await http.put(
        path,
        json={"name": "Instituto A (renamed)", "country": "PT", "competences": ["c-3", "c-1"]},
        headers=PLATFORM_ADMIN,
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["competences"] == ["c-1", "c-2", "c-3"]
    assert imported.json()["name"] == "Instituto A (renamed)"
    assert imported.json()["key_id"] == first.json()["key_id"]
    assert await issuer.database["keys"].count_documents({"institution_id": AWARDING}) == 1
    assert await issuer.database["institutions"].count_documents({}) == 1

    bad = await http.put(
        path, json={"name": "X", "country": "Portugal", "competences": []}, headers=PLATFORM_ADMIN
    )
    assert bad.status_code == 422, bad.text


async def test_concurrent_registrations_make_one_key_and_one_record(issuer: Issuer) -> None:
    keys = await asyncio.gather(
        *(
            issuer.register(AWARDING, name="Instituto A", country="PT", competences=[f"c-{n}"])
            for n in range(4)
        )
    )
    assert {k.public_multibase for k in keys} == {keys[0].public_multibase}
    assert await issuer.database["keys"].count_documents({"institution_id": AWARDING}) == 1
    document = await issuer.institutions.get(AWARDING)
    assert document is not None
    assert sorted(document["competences"]) == ["c-0", "c-1", "c-2", "c-3"]


async def test_awards_of_unregistered_institutions_and_unknown_competences_are_refused(
    issuer: Issuer,
) -> None:
    with pytest.raises(RefusedEventError, match=f"unknown institution {AWARDING}: not onboarded"):
        await issuer.on_competence_awarded(competence_award("award-1"))
    await onboard(issuer, AWARDING, competences=("c-1",))
    with pytest.raises(RefusedEventError, match=f"unknown competence c-2 of {AWARDING}"):
        await issuer.on_competence_awarded(competence_award("award-2", competence_id="c-2"))
    # The pathway stacks a partner's award: its institution must be registered too.
    with pytest.raises(RefusedEventError, match=f"unknown institution {PARTNER}: not onboarded"):
        await issuer.on_pathway_awarded(pathway_award("award-p"))

    # Nothing stored: no credential, no status list entry, no key of the unregistered partner.
    assert await issuer.credentials.count_documents({}) == 0
    assert await issuer.database["keys"].count_documents({"institution_id": PARTNER}) == 0
    assert isinstance(issuer.publisher, RecordingPublisher)
    assert issuer.publisher.events(topics.CREDENTIAL_ISSUED) == []

    await issuer.on_competence_awarded(competence_award("award-3"))
    assert await issuer.credentials.count_documents({}) == 1


def about(*award_ids: str) -> Any:
    def keep(record: Record) -> bool:
        try:
            document = record.json()
        except ValueError:
            return False
        return isinstance(document, dict) and document.get("data", {}).get("award_id") in award_ids

    return keep


async def test_on_kafka_awards_of_unknown_institutions_and_competences_are_dead_lettered(
    servers: Servers,
    topics_ready: None,
) -> None:
    run = uuid.uuid4().hex[:8]
    known, stranger = f"inst-{run}", f"stranger-{run}"
    unknown_institution, unknown_competence, sentinel = (f"{run}-{n}" for n in ("u1", "u2", "ok"))
    settings = IssuerSettings(**service_env(servers, "issuer"))  # type: ignore[arg-type]
    app = build_app(settings)
    app.state.keys = LocalKeySet()  # intake's key set, without intake
    issuer: Issuer = app.state.issuer
    async with running(app) as http:
        registered = await http.put(
            f"/institutions/{known}",
            json={"name": "Instituto K", "country": "PT", "competences": ["c-1"]},
            headers=PLATFORM_ADMIN,
        )
        assert registered.status_code == 200, registered.text
        await publish_events(
            servers.kafka,
            [
                competence_award(unknown_institution, tenant=stranger, learner_id=run),
                competence_award(
                    unknown_competence, tenant=known, learner_id=run, competence_id="c-9"
                ),
                competence_award(sentinel, tenant=known, learner_id=run),
            ],
        )
        refused = await read_topic(
            servers.kafka,
            topics.dead_letter(topics.COMPETENCE_AWARDED),
            keep=about(unknown_institution, unknown_competence),
            until=lambda kept: len(kept) >= 2,
        )
        reasons = {r.json()["data"]["award_id"]: r.headers["dlq-reason"].decode() for r in refused}
        assert reasons == {
            unknown_institution: f"refused: unknown institution {stranger}: not onboarded at "
            "the issuer",
            unknown_competence: f"refused: unknown competence c-9 of {known}",
        }
        # The sentinel (same learner, so handled after both) is issued; the refused changed
        # nothing: no credential, no key for the stranger.
        issued = await read_topic(
            servers.kafka,
            topics.CREDENTIAL_ISSUED,
            keep=about(sentinel, unknown_institution, unknown_competence),
            until=bool,
        )
        assert [r.json()["data"]["award_id"] for r in issued] == [sentinel]
        for award_id in (unknown_institution, unknown_competence):
            assert await issuer.credentials.find_one({"_id": award_id}) is None
        assert await issuer.database["keys"].count_documents({"institution_id": stranger}) == 0
        assert (await http.get(f"/institutions/{stranger}/keys")).json()["keys"] == []
