"""Database round trips per credential: the benchmark found the issuer waiting on them.

Issuing went from 21 commands per credential to 13 (status lists: 14 to 6), which is what keeps
issuance near the raw signing rate (``bench/pipeline.py``). The count is exact, so a round trip
added to the path fails here rather than only showing as a slower benchmark.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from pymongo import AsyncMongoClient, monitoring

from microcred_issuer.handlers import Issuer
from microcred_shared.crypto import MasterKeyCipher
from microcred_shared.mongo import Document
from microcred_shared.testing.fakes import RecordingPublisher
from microcred_shared.testing.servers import Servers
from services.issuer.tests.samples import (
    CREDENTIAL_ID_KEY,
    MASTER,
    PUBLIC_URL,
    competence_award,
    onboard,
)

pytestmark = pytest.mark.integration


class Commands(monitoring.CommandListener):
    """Counts the commands sent while ``counting``, by name and collection."""

    def __init__(self) -> None:
        self.counting = False
        self.seen: Counter[tuple[str, str]] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.counting:
            self.seen[(event.command_name, str(event.command.get(event.command_name)))] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def counted(servers: Servers) -> AsyncIterator[tuple[Issuer, Commands]]:
    commands = Commands()
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        servers.mongodb_uri, tz_aware=True, event_listeners=[commands]
    )
    name = f"test_{uuid.uuid4().hex[:12]}"
    issuer = Issuer(
        client[name], RecordingPublisher(), MasterKeyCipher(MASTER), PUBLIC_URL, CREDENTIAL_ID_KEY
    )
    try:
        await issuer.keys.prepare()
        await issuer.ensure_indexes()
        await onboard(issuer)
        yield issuer, commands
    finally:
        await client.drop_database(name)
        await client.close()


async def test_a_credential_takes_thirteen_round_trips_once_its_lists_exist(
    counted: tuple[Issuer, Commands],
) -> None:
    issuer, commands = counted
    await issuer.on_competence_awarded(competence_award("a-first", learner_id="l-0"))

    commands.counting = True
    for n in range(5):
        await issuer.on_competence_awarded(competence_award(f"a-{n}", learner_id=f"l-{n}"))
    commands.counting = False

    per_credential = {k: v / 5 for k, v in commands.seen.items()}
    assert per_credential == {
        # is the institution registered, and for this competence
        ("find", "institutions"): 1,
        # its signing key
        ("find", "keys"): 1,
        # issued before? and the outbox's read of the stored credential
        ("find", "credentials"): 2,
        # per purpose (revocation, suspension): the open list, and its count
        ("findAndModify", "status_lists"): 4,
        # per purpose: the entry
        ("insert", "status_entries"): 2,
        # the credential with its event, then the event marked sent
        ("insert", "credentials"): 1,
        ("update", "credentials"): 2,
    }, commands.seen
    assert sum(per_credential.values()) == 13
    assert len(issuer.publisher.published) == 6  # type: ignore[attr-defined]
