"""Institutions' keys: rotation keeps old keys verifying, one active key, the first shape migrated.

The store's tests run on the real database; the rotation route's with a test key set standing
in for intake's. ``microcred issuer rotate-key`` is run against the issuer's routes served over
HTTP (intake's login answered by the test), and its requests and refusals are checked on their
own. The last test runs the issuer's app on the real Kafka broker: a credential issued from an
award event still verifies after a rotation, and the next one is signed with the new key.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase
from typer.testing import CliRunner

from microcred_issuer.api import router
from microcred_issuer.bootstrap import build_app
from microcred_issuer.handlers import Issuer
from microcred_issuer.keys import (
    CipherCustody,
    KeyCustody,
    KeyStore,
    NoKeyError,
    key_document_id,
    multibase_public_key,
)
from microcred_issuer.keys_api import router as keys_router
from microcred_issuer.settings import IssuerSettings
from microcred_shared import cli
from microcred_shared.contracts import topics
from microcred_shared.crypto import MasterKeyCipher
from microcred_shared.http import install_problem_handlers
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
)

# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
async def issuer(database: AsyncDatabase[Any]) -> Issuer:
    issuer = Issuer(
        database, RecordingPublisher(), MasterKeyCipher(MASTER), PUBLIC_URL, CREDENTIAL_ID_KEY
    )
    await issuer.keys.prepare()
    await issuer.ensure_indexes()
    await onboard(issuer, AWARDING)
    return issuer


def store(database: AsyncDatabase[Any]) -> KeyStore:
    return KeyStore(database["keys"], MasterKeyCipher(MASTER))


def issued_data(issuer: Issuer, award_id: str) -> dict[str, Any]:
    assert isinstance(issuer.publisher, RecordingPublisher)
    [event] = [
        e
        for e in issuer.publisher.events(topics.CREDENTIAL_ISSUED)
        if e["data"]["award_id"] == award_id
    ]
    data: dict[str, Any] = event["data"]
    return data


# --- the store --------------------------------------------------------------------------------


@pytest.mark.integration
async def test_a_rotation_retires_the_old_key_which_stays_in_the_did_document_and_jwks(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    first = await issuer.keys.active_key(AWARDING)
    assert first.key_id == "key-1"

    admin = token((AWARDING, "institution_admin"))
    answer = await http.post(f"/institutions/{AWARDING}/keys/rotate", headers=admin)
    assert answer.status_code == 200, answer.text
    rotated = answer.json()
    did = issuer.did(AWARDING)
    assert rotated["key_id"] == f"{did}#key-2"
    assert [m["id"] for m in rotated["verification_methods"]] == [f"{did}#key-2", f"{did}#key-1"]

    new = await issuer.keys.active_key(AWARDING)
    assert new.key_id == "key-2"
    assert new.public_multibase != first.public_multibase

    document = (await http.get(f"/institutions/{AWARDING}/did.json")).json()
    assert [m["id"] for m in document["verificationMethod"]] == [f"{did}#key-2", f"{did}#key-1"]
    assert document["verificationMethod"][1]["publicKeyMultibase"] == first.public_multibase
    assert document["assertionMethod"] == [f"{did}#key-2", f"{did}#key-1"]
    jwks = (await http.get(f"/institutions/{AWARDING}/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [f"{did}#key-2", f"{did}#key-1"]

    listed = (await http.get(f"/institutions/{AWARDING}/keys")).json()
    assert listed["did"] == did
    [active, retired] = listed["keys"]
    assert (active["key_id"], active["status"], active["retired_at"]) == ("key-2", "active", None)
    assert (retired["key_id"], retired["status"]) == ("key-1", "retired")
    assert retired["public_key_multibase"] == first.public_multibase
    assert retired["created_at"] <= retired["retired_at"]
    assert set(active) == {
        "id",
        "key_id",
        "status",
        "public_key_multibase",
        "created_at",
        "retired_at",
    }  # public facts only
    # Another institution's keys are untouched; an unknown one has none.
    assert (await http.get(f"/institutions/{PARTNER}/keys")).json()["keys"] == []


@pytest.mark.integration
async def test_credentials_signed_before_a_rotation_verify_after_it(issuer: Issuer) -> None:
    await issuer.on_competence_awarded(competence_award("award-1"))
    before = issued_data(issuer, "award-1")
    assert before["verification_method"].endswith("#key-1")

    await issuer.keys.rotate(AWARDING)
    await issuer.on_competence_awarded(competence_award("award-2", competence_id="c-2"))
    after = issued_data(issuer, "award-2")
    assert after["verification_method"].endswith("#key-2")
    assert after["credential"]["proof"][0]["verificationMethod"].endswith("#key-2")

    for data in (before, after):
        for presented in (data["credential"], data["credential_jwt"]):
            verdict = await issuer.verify(presented)
            assert verdict["verified"] is True, verdict


class Lockstep(KeyStore):
    """A store whose first read of the last key waits for the others' (a forced race)."""

    def __init__(self, database: AsyncDatabase[Any], barrier: asyncio.Barrier) -> None:
        super().__init__(database["keys"], MasterKeyCipher(MASTER))
        self._barrier: asyncio.Barrier | None = barrier

    async def _last(self, institution_id: str) -> Any:
        document = await super()._last(institution_id)
        if self._barrier is not None:
            barrier, self._barrier = self._barrier, None
            await barrier.wait()
        return document


@pytest.mark.integration
async def test_concurrent_rotations_make_exactly_one_new_active_key(
    database: AsyncDatabase[Any],
) -> None:
    first = await store(database).first_key(AWARDING)
    # Separate stores (as separate processes would be), each rotating from key-1.
    barrier = asyncio.Barrier(6)
    rotated = await asyncio.gather(
        *(Lockstep(database, barrier).rotate(AWARDING) for _ in range(6))
    )

    assert {key.key_id for key in rotated} == {"key-2"}
    assert len({key.public_multibase for key in rotated}) == 1
    assert rotated[0].public_multibase != first.public_multibase
    assert await database["keys"].count_documents({"institution_id": AWARDING}) == 2
    active = await database["keys"].find({"status": "active"}).to_list(None)
    assert [d["_id"] for d in active] == [key_document_id(AWARDING, 2)]
    # Rotating again goes on from the new key.
    assert (await store(database).rotate(AWARDING)).key_id == "key-3"
    assert [k.key_id for k in await store(database).public_keys(AWARDING)] == [
        "key-3",
        "key-2",
        "key-1",
    ]


@pytest.mark.integration
async def test_rotations_racing_as_they_come_leave_one_active_key_the_newest(
    database: AsyncDatabase[Any],
) -> None:
    await store(database).first_key(AWARDING)
    rotated = await asyncio.gather(*(store(database).rotate(AWARDING) for _ in range(6)))

    # Each rotation made a key or returned one made by a rotation it overlapped with.
    made = {key.key_id for key in rotated}
    documents = await database["keys"].find({}).sort("serial", 1).to_list(None)
    assert [d["key_id"] for d in documents] == [f"key-{n}" for n in range(1, len(made) + 2)]
    assert [d["status"] for d in documents] == ["retired"] * len(made) + ["active"]
    newest = await store(database).active_key(AWARDING)
    assert newest.key_id == documents[-1]["key_id"]
    assert {k.key_id for k in await store(database).public_keys(AWARDING)} == made | {"key-1"}


@pytest.mark.integration
@pytest.mark.parametrize("lockstep", [False, True])
async def test_concurrent_registrations_agree_on_one_key(
    database: AsyncDatabase[Any], *, lockstep: bool
) -> None:
    barrier = asyncio.Barrier(6)
    stores = [Lockstep(database, barrier) if lockstep else store(database) for _ in range(6)]
    keys = await asyncio.gather(*(s.first_key(AWARDING) for s in stores))

    assert {k.public_multibase for k in keys} == {keys[0].public_multibase}
    assert {k.key_id for k in keys} == {"key-1"}
    assert await database["keys"].count_documents({}) == 1


@pytest.mark.integration
async def test_a_rotation_stopped_between_its_writes_is_finished_by_the_next_read(
    database: AsyncDatabase[Any],
) -> None:
    keys = store(database)
    await keys.first_key(AWARDING)
    # As if a rotation inserted key-2 and crashed before retiring key-1.
    await database["keys"].insert_one(keys._new_document(AWARDING, 2))
    assert await database["keys"].count_documents({"status": "active"}) == 2

    assert (await keys.active_key(AWARDING)).key_id == "key-2"
    retired = await database["keys"].find_one({"_id": key_document_id(AWARDING, 1)})
    assert retired is not None
    assert retired["status"] == "retired"
    assert retired["retired_at"] is not None


@pytest.mark.integration
async def test_revoked_keys_are_listed_nowhere(
    issuer: Issuer, database: AsyncDatabase[Any]
) -> None:
    await issuer.keys.active_key(AWARDING)
    await issuer.keys.rotate(AWARDING)
    await database["keys"].update_one(
        {"_id": key_document_id(AWARDING, 1)}, {"$set": {"status": "revoked"}}
    )
    assert [k.key_id for k in await issuer.keys.public_keys(AWARDING)] == ["key-2"]
    assert [k.key_id for k in await issuer.keys.key_infos(AWARDING)] == ["key-2"]
    # With every key revoked, none is active; the registered institution's next award makes a
    # new one (never a revoked one back).
    await database["keys"].update_many({}, {"$set": {"status": "revoked"}})
    assert await issuer.keys.public_keys(AWARDING) == []
    with pytest.raises(NoKeyError):
        await issuer.keys.active_key(AWARDING)
    await issuer.on_competence_awarded(competence_award("award-after-revocation"))
    assert issued_data(issuer, "award-after-revocation")["verification_method"].endswith("#key-3")
    assert [k.key_id for k in await issuer.keys.public_keys(AWARDING)] == ["key-3"]


@pytest.mark.integration
async def test_keys_are_made_at_registration_never_on_first_use(
    database: AsyncDatabase[Any],
) -> None:
    keys = store(database)
    with pytest.raises(NoKeyError):
        await keys.active_key(PARTNER)
    assert await database["keys"].count_documents({}) == 0
    made = await keys.first_key(PARTNER)
    assert (await keys.active_key(PARTNER)).public_multibase == made.public_multibase


# --- the first shape --------------------------------------------------------------------------


async def legacy_key(database: AsyncDatabase[Any], institution_id: str) -> str:
    """A key stored as the first version did: one document, ``_id`` the institution's id."""
    private_key = Ed25519PrivateKey.generate()
    raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    await database["keys"].insert_one(
        {
            "_id": institution_id,
            "key_id": "key-1",
            "public_multibase": multibase_public_key(private_key.public_key()),
            "sealed_private_key": MasterKeyCipher(MASTER).seal(raw, institution_id.encode()),
            "created_at": datetime(2026, 1, 5, tzinfo=UTC),
        }
    )
    return multibase_public_key(private_key.public_key())


@pytest.mark.integration
async def test_a_key_of_the_first_shape_is_migrated_on_read_and_keeps_its_id(
    database: AsyncDatabase[Any],
) -> None:
    public = await legacy_key(database, AWARDING)
    keys = store(database)

    [listed] = await keys.public_keys(AWARDING)
    assert (listed.key_id, listed.public_multibase) == ("key-1", public)
    active = await keys.active_key(AWARDING)
    assert (active.key_id, active.public_multibase) == ("key-1", public)
    assert await database["keys"].find_one({"_id": AWARDING}) is None
    migrated = await database["keys"].find_one({"_id": key_document_id(AWARDING, 1)})
    assert migrated is not None
    assert migrated["institution_id"] == AWARDING
    assert migrated["status"] == "active"
    assert migrated["custody"] == CipherCustody.name
    assert migrated["created_at"].replace(tzinfo=UTC) == datetime(2026, 1, 5, tzinfo=UTC)
    # Sealed again, bound to its new document: the old sealed bytes are gone.
    assert (await keys.rotate(AWARDING)).key_id == "key-2"


@pytest.mark.integration
async def test_keys_of_the_first_shape_are_migrated_at_startup_once(
    database: AsyncDatabase[Any],
) -> None:
    publics = {i: await legacy_key(database, i) for i in (AWARDING, PARTNER)}
    # Two processes starting at once.
    await asyncio.gather(store(database).prepare(), store(database).prepare())

    assert await database["keys"].count_documents({"institution_id": {"$exists": False}}) == 0
    assert await database["keys"].count_documents({}) == 2
    for institution_id, public in publics.items():
        [key] = await store(database).public_keys(institution_id)
        assert (key.key_id, key.public_multibase) == ("key-1", public)


@pytest.mark.integration
async def test_a_credential_signed_by_a_key_of_the_first_shape_still_verifies(
    issuer: Issuer, database: AsyncDatabase[Any]
) -> None:
    await issuer.on_competence_awarded(competence_award("award-1"))
    data = issued_data(issuer, "award-1")
    # Put its key back in the first shape, as if it had been signed before the migration.
    document = await database["keys"].find_one({"_id": key_document_id(AWARDING, 1)})
    assert document is not None
    private_key = CipherCustody(MasterKeyCipher(MASTER)).open(
        bytes(document["sealed_private_key"]), document["_id"]
    )
    raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    await database["keys"].delete_many({})
    await database["keys"].insert_one(
        {
            "_id": AWARDING,
            "key_id": "key-1",
            "public_multibase": document["public_multibase"],
            "sealed_private_key": MasterKeyCipher(MASTER).seal(raw, AWARDING.encode()),
            "created_at": document["created_at"],
        }
    )

    verdict = await issuer.verify(data["credential"])
    assert verdict["verified"] is True, verdict


# --- custody ----------------------------------------------------------------------------------


@pytest.mark.unit
def test_the_master_key_cipher_is_the_default_custody_and_binds_keys_to_their_document() -> None:
    custody = CipherCustody(MasterKeyCipher(MASTER))
    assert isinstance(custody, KeyCustody)
    assert not isinstance(MasterKeyCipher(MASTER), KeyCustody)
    private_key = Ed25519PrivateKey.generate()
    sealed = custody.seal(private_key, "inst-a#key-1")
    raw = private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    assert raw not in sealed
    opened = custody.open(sealed, "inst-a#key-1")
    assert multibase_public_key(opened.public_key()) == multibase_public_key(
        private_key.public_key()
    )
    with pytest.raises(InvalidTag):
        custody.open(sealed, "inst-a#key-2")  # moved to another document: does not open


# --- who may rotate ---------------------------------------------------------------------------


@pytest.mark.integration
async def test_only_the_institutions_admins_and_platform_admins_rotate_its_keys(
    issuer: Issuer, http: httpx.AsyncClient
) -> None:
    path = f"/institutions/{AWARDING}/keys/rotate"
    assert (await http.post(path)).status_code == 401
    assert (await http.post(path, headers={"Authorization": "Bearer nonsense"})).status_code == 401
    for refused in (
        token((AWARDING, "learner")),
        token((AWARDING, "evaluator")),
        token((PARTNER, "institution_admin")),
    ):
        answer = await http.post(path, headers=refused)
        assert answer.status_code == 403
        assert answer.headers["content-type"] == "application/problem+json"
    # Refusals made no key: the one made when the institution was registered stands alone.
    assert [k.key_id for k in await issuer.keys.public_keys(AWARDING)] == ["key-1"]

    admin = await http.post(path, headers=token((AWARDING, "institution_admin")))
    assert admin.status_code == 200
    assert admin.json()["key_id"].endswith("#key-2")
    platform = await http.post(path, headers=token(platform_admin=True))
    assert platform.status_code == 200
    assert platform.json()["key_id"].endswith("#key-3")


# --- the command ------------------------------------------------------------------------------


@pytest.mark.unit
def test_microcred_issuer_rotate_key_logs_in_then_calls_the_issuer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/auth/token":
            return httpx.Response(200, json={"access_token": "tok", "token_type": "bearer"})
        did = "did:web:issuer.example.org:institutions:inst-a"
        return httpx.Response(
            200,
            json={
                "institution_id": "inst-a",
                "key_id": f"{did}#key-2",
                "verification_methods": [{"id": f"{did}#key-2"}, {"id": f"{did}#key-1"}],
            },
        )

    real_client = httpx.Client

    def client(**kwargs: Any) -> httpx.Client:
        return real_client(transport=httpx.MockTransport(answer), **kwargs)

    monkeypatch.setattr(httpx, "Client", client)
    result = CliRunner().invoke(
        cli.app,
        [
            "issuer",
            "rotate-key",
            "inst-a",
            "--admin-password",
            "secret",
            "--intake-url",
            "http://intake.test",
            "--issuer-url",
            "http://issuer.test",
        ],
    )

    assert result.exit_code == 0, result.output
    login, rotate = seen
    assert str(login.url) == "http://intake.test/auth/token"
    assert rotate.method == "POST"
    assert str(rotate.url) == "http://issuer.test/institutions/inst-a/keys/rotate"
    assert rotate.headers["Authorization"] == "Bearer tok"
    assert "now signs with did:web:issuer.example.org:institutions:inst-a#key-2" in result.output
    assert "verifies with did:web:issuer.example.org:institutions:inst-a#key-1" in result.output


@pytest.mark.unit
def test_microcred_issuer_rotate_key_reports_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(200, json={"access_token": "tok"})
        problem = {"title": "Forbidden", "detail": "you are no institution admin at inst-a"}
        return httpx.Response(403, json=problem)

    real_client = httpx.Client
    monkeypatch.setattr(
        httpx,
        "Client",
        lambda **kwargs: real_client(transport=httpx.MockTransport(answer), **kwargs),
    )
    result = CliRunner().invoke(
        cli.app,
        [
            "issuer",
            "rotate-key",
            "inst-a",
            "--admin-password",
            "secret",
            "--intake-url",
            "http://i",
            "--issuer-url",
            "http://s",
        ],
    )
    assert result.exit_code == 1
    assert "Forbidden: you are no institution admin at inst-a" in result.output


class LoginThenNetwork(httpx.BaseTransport):
    """Intake's login answered here (a token of this test's key); every other call goes out."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._network = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(200, json={"access_token": self._token})
        return self._network.handle_request(request)


@pytest.mark.integration
async def test_microcred_issuer_rotate_key_against_the_running_issuer(
    issuer: Issuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(keys_router)
    app.state.issuer = issuer
    app.state.keys = LocalKeySet()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        first = await issuer.keys.active_key(AWARDING)
        bearer = token((AWARDING, "institution_admin"))["Authorization"].removeprefix("Bearer ")
        real_client = httpx.Client
        monkeypatch.setattr(
            httpx,
            "Client",
            lambda **kwargs: real_client(transport=LoginThenNetwork(bearer), **kwargs),
        )
        arguments = [
            "issuer",
            "rotate-key",
            AWARDING,
            "--admin-email",
            "admin@inst-a.example.org",
            "--admin-password",
            "secret",
            "--intake-url",
            "http://intake.invalid",
            "--issuer-url",
            f"http://127.0.0.1:{port}",
        ]
        # The command is synchronous: it runs in a thread while the issuer serves on this loop.
        result = await asyncio.to_thread(CliRunner().invoke, cli.app, arguments)
    finally:
        server.should_exit = True
        await serving

    assert result.exit_code == 0, result.output
    did = issuer.did(AWARDING)
    assert f"{AWARDING} now signs with {did}#key-2" in result.output
    assert f"verifies with {did}#key-1" in result.output
    active = await issuer.keys.active_key(AWARDING)
    assert active.key_id == "key-2"
    assert active.public_multibase != first.public_multibase


# --- on the real stack ------------------------------------------------------------------------


def about(award_id: str) -> Any:
    def keep(record: Record) -> bool:
        try:
            document = record.json()
        except ValueError:
            return False
        return isinstance(document, dict) and document.get("data", {}).get("award_id") == award_id

    return keep


@pytest.mark.integration
async def test_on_kafka_a_credential_issued_before_a_rotation_verifies_after_it(
    servers: Servers,
    topics_ready: None,
) -> None:
    run = uuid.uuid4().hex[:8]
    institution_id = f"inst-{run}"
    before_id, after_id = f"{run}-k1", f"{run}-k2"
    settings = IssuerSettings(**service_env(servers, "issuer"))  # type: ignore[arg-type]
    app = build_app(settings)
    app.state.keys = LocalKeySet()  # intake's key set, without intake
    issuer: Issuer = app.state.issuer
    async with running(app) as http:
        registered = await http.put(
            f"/institutions/{institution_id}",
            json={"name": "Instituto K", "country": "PT", "competences": ["c-1", "c-2"]},
            headers=token(platform_admin=True),
        )
        assert registered.status_code == 200, registered.text
        assert registered.json()["key_id"] == f"{issuer.did(institution_id)}#key-1"
        await publish_events(servers.kafka, [competence_award(before_id, tenant=institution_id)])
        [before] = await read_topic(
            servers.kafka, topics.CREDENTIAL_ISSUED, keep=about(before_id), until=bool
        )
        old = before.json()["data"]
        assert old["verification_method"].endswith("#key-1")

        rotated = await http.post(
            f"/institutions/{institution_id}/keys/rotate",
            headers=token((institution_id, "institution_admin")),
        )
        assert rotated.status_code == 200, rotated.text
        new_kid = rotated.json()["key_id"]
        assert new_kid == f"{issuer.did(institution_id)}#key-2"

        for presented in (old["credential"], old["credential_jwt"]):
            verdict = await issuer.verify(presented)
            assert verdict["verified"] is True, verdict

        await publish_events(
            servers.kafka,
            [competence_award(after_id, tenant=institution_id, competence_id="c-2")],
        )
        [after] = await read_topic(
            servers.kafka, topics.CREDENTIAL_ISSUED, keep=about(after_id), until=bool
        )
        new = after.json()["data"]
        assert new["verification_method"] == new_kid
        assert new["credential"]["proof"][0]["verificationMethod"] == new_kid
        for presented in (new["credential"], new["credential_jwt"]):
            verdict = await issuer.verify(presented)
            assert verdict["verified"] is True, verdict
        document = (await http.get(f"/institutions/{institution_id}/did.json")).json()
        assert [m["id"].rsplit("#", 1)[1] for m in document["verificationMethod"]] == [
            "key-2",
            "key-1",
        ]
