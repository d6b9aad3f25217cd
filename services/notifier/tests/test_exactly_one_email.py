"""Exactly one claim e-mail per credential, while the notifier and the SMTP relay are killed.

The notifier runs as a process of its own (``python -m microcred_notifier``) on the session's
Kafka and database, sending through an SMTP sink that is also a process of its own. Thirty
credentials are issued on the real topic; while their e-mails go out, the notifier is SIGKILLed
and restarted, the sink is SIGKILLed and restarted on the same port and Maildir, and the notifier
is stopped with SIGTERM and restarted. In the end each credential has exactly one e-mail, its
claim is recorded sent, and exactly one notification-sent event is on Kafka.

Where the kills land, and why there. An SMTP client cannot close one window (RFC 1047): the relay
has accepted the message (its ``250`` after DATA) and the client dies before recording that, or
the relay stores the message and dies before the ``250`` reaches the client. Either way the
message is sent again later, with the same Message-ID, so a relay or a mail client can drop the
copy (and only the later link works). No protocol removes that duplicate; a test that killed at
random moments would fail now and then, for that reason alone, and prove nothing more.

So every kill is placed, by construction, in a send that has not reached DATA: the sink is run
with a hold (``--hold-dir``), under which each recipient command waits and is reported by a
``held-…`` marker. A process is killed only when a session is held right now (younger than half
the client's time-out), no session of the sink has an accepted recipient (``open-…``: none could
still store a message), and, when the notifier is the one to die, every stored message is
recorded as delivered and every outbox has been published: the notifier then has nothing between
the relay's ``250`` and its own record, nor between a publish and its mark. Afterwards the test
checks that the held session was indeed cut: ``dropped`` when the notifier died (the kernel closed
its socket), still ``held`` when the sink died holding it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from microcred_notifier.handlers import DELIVERED, SENDING, SENT, token_hash
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import CredentialIssuedV1
from microcred_shared.demo import claim_link
from microcred_shared.mongo import Document
from microcred_shared.stack.smtp_sink import DROPPED, HELD, RELEASED, make_controller, read_messages
from microcred_shared.testing.kafka import publish_events, read_topic_to_end
from microcred_shared.testing.processes import (
    OwnProcess,
    own_service,
    own_smtp_sink,
    own_stack_config,
    owned,
)
from microcred_shared.testing.servers import Servers, free_port
from microcred_shared.testing.sink_hold import HeldSession, SinkHold

from .conftest import Learner, issued_event, new_learner

#: The client's time-out; the notifier's lease on a send is then 2 x 3 + 15 = 21 s.
SMTP_TIMEOUT_SECONDS = 3.0
FIRST_BATCH, SECOND_BATCH = 10, 20
POLL_SECONDS = 0.05


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float, what: str, log: str = ""
) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if await answer if inspect.isawaitable(answer) else answer:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout:.0f}s: {what}\n{log}")
        await asyncio.sleep(POLL_SECONDS)


@dataclass
class Kill:
    """A kill the test made: of whom, how, and the session that was held at that moment."""

    victim: str
    how: str
    held: HeldSession
    claim_state: str | None = None
    fate: str | None = None


@dataclass
class Scene:
    servers: Servers
    sink: OwnProcess
    notifier: OwnProcess
    hold: SinkHold
    maildir: Path
    claims: AsyncCollection[Document]
    tenant: str
    learners: list[Learner]
    kills: list[Kill] = field(default_factory=list)

    def logs(self) -> str:
        return f"--- notifier:\n{self.notifier.log()}\n--- sink:\n{self.sink.log()}"

    def our_mail(self) -> list[EmailMessage]:
        ours = {learner.email for learner in self.learners}
        return [m for m in read_messages(self.maildir) if str(m["X-Sink-Rcpt-To"]) in ours]

    async def stored_mail_is_recorded(self) -> bool:
        """Every message in the Maildir is one its claim records as delivered."""
        stored = {str(m["Message-ID"]) for m in read_messages(self.maildir)}
        recorded = {
            claim.get("message_id")
            async for claim in self.claims.find({"delivery.state": DELIVERED}, {"message_id": 1})
        }
        return stored <= recorded

    async def held_safely(self, since: float, *, notifier_dies: bool) -> HeldSession | None:
        """A session held now, when no message can be stored or recorded while it is killed."""
        pid = self.sink.pid
        fresh = [s for s in self.hold.sessions(HELD, pid) if s.since >= since]
        # The held marker was written after the hold began; every session that got its
        # recipient before then has its ``open-…`` marker on disk already (one thread, in order).
        if not fresh or self.hold.open_sessions(pid):
            return None
        if notifier_dies and (
            not await self.stored_mail_is_recorded()
            or await self.claims.count_documents({"outbox_pending": True})
        ):
            return None
        chosen = fresh[-1]
        # Still held, and young enough that its client is surely still waiting for the answer.
        if self.hold.fate(chosen) != HELD or time.time() - chosen.since > SMTP_TIMEOUT_SECONDS / 2:
            return None
        return chosen

    async def wait_to_kill(self, since: float, *, notifier_dies: bool) -> HeldSession:
        found: list[HeldSession] = []

        async def ready() -> bool:
            held = await self.held_safely(since, notifier_dies=notifier_dies)
            if held is not None:
                found.append(held)
            return held is not None

        # Long enough for a send cut earlier to be taken again when its lease (21 s) expires.
        await eventually(ready, 45, "a session held with nothing else in flight", self.logs())
        return found[0]

    async def end_notifier_mid_send(self, since: float, how: str) -> None:
        """SIGKILL or SIGTERM the notifier while the sink holds one of its sessions."""
        held = await self.wait_to_kill(since, notifier_dies=True)
        if how == "SIGKILL":
            await self.notifier.kill()
        else:
            await self.notifier.stop()
        kill = Kill("notifier", how, held, claim_state=await self.claim_state(held.recipient))
        self.kills.append(kill)
        # Its socket closed by the kernel (or by its client giving up), the session ends.
        await eventually(lambda: self.hold.fate(held) != HELD, 10, "the client's session end")
        kill.fate = self.hold.fate(held)

    async def our_claims(self) -> dict[str, Document]:
        """The test's claims, by learner e-mail."""
        found = self.claims.find({"institution_id": self.tenant})
        return {claim["learner"]["email"]: claim async for claim in found}

    async def claim_state(self, email: str) -> str | None:
        claim = await self.claims.find_one({"learner.email": email}, {"delivery": 1})
        return None if claim is None else str(claim["delivery"]["state"])

    async def all_sent(self) -> bool:
        settled = await self.claims.count_documents(
            {
                "institution_id": self.tenant,
                "status": SENT,
                "delivery.state": DELIVERED,
                "outbox_pending": False,
            }
        )
        return settled == len(self.learners) and len(self.our_mail()) >= len(self.learners)


@pytest.fixture
async def scene(servers: Servers, topics_ready: None, tmp_path: Path) -> AsyncIterator[Scene]:
    cfg = own_stack_config(tmp_path / "stack")
    hold = SinkHold(tmp_path / "hold")
    sink = own_smtp_sink(cfg, hold_dir=hold.directory)
    database = f"test_notifier_{uuid.uuid4().hex[:10]}"
    notifier = own_service(
        servers,
        cfg,
        "notifier",
        {
            "mongodb_database": database,
            # The platform's principal may use only groups of its prefix.
            "consumer_group": f"microcred-test-notifier-{uuid.uuid4().hex[:10]}",
            "smtp_timeout_seconds": str(SMTP_TIMEOUT_SECONDS),
            "delivery_poll_seconds": "0.5",
            "retry_first_seconds": "0.5",
            "retry_longest_seconds": "2",
            "outbox_relay_interval_seconds": "0.5",
        },
    )
    mongo: AsyncMongoClient[Document] = AsyncMongoClient(servers.mongodb_uri, tz_aware=True)
    try:
        async with owned(sink, notifier):
            await sink.start()
            await notifier.start()
            yield Scene(
                servers=servers,
                sink=sink,
                notifier=notifier,
                hold=hold,
                maildir=cfg.maildir,
                claims=mongo[database]["claims"],
                tenant=f"inst-once-{uuid.uuid4().hex[:8]}",
                learners=[new_learner() for _ in range(FIRST_BATCH + SECOND_BATCH)],
            )
    finally:
        await mongo.drop_database(database)
        await mongo.close()


@pytest.mark.integration
async def test_exactly_one_email_per_credential_while_notifier_and_relay_are_killed(
    scene: Scene,
) -> None:
    started = time.monotonic()
    events = [issued_event(learner, scene.tenant) for learner in scene.learners]
    platform = scene.servers.kafka_platform

    # Some e-mails go out normally first.
    await publish_events(platform, events[:FIRST_BATCH])
    await eventually(
        lambda: len(scene.our_mail()) >= FIRST_BATCH, 60, "the first e-mails", scene.logs()
    )

    # (a) The notifier is SIGKILLed while it waits for the relay to accept a recipient; the
    # other credentials are published meanwhile, and wait.
    hold_on = time.time()
    scene.hold.on()
    await publish_events(platform, events[FIRST_BATCH:])
    await scene.end_notifier_mid_send(hold_on, "SIGKILL")
    # The hold stays on: what the restarted notifier sends is held too.
    restarted = time.time()
    await scene.notifier.start()

    # (b) The sink is SIGKILLed while it holds a recipient of the restarted notifier; it comes
    # back on the same port and Maildir, without the hold, and mail flows again.
    held = await scene.wait_to_kill(restarted, notifier_dies=False)
    await scene.sink.kill()
    scene.kills.append(Kill("sink", "SIGKILL", held, fate=scene.hold.fate(held)))
    scene.hold.off()
    await scene.sink.start()
    before = len(scene.our_mail())
    await eventually(lambda: len(scene.our_mail()) > before, 45, "mail through the new sink")

    # (c) The notifier is stopped (SIGTERM) while it waits for a recipient, then started again.
    hold_on = time.time()
    scene.hold.on()
    await scene.end_notifier_mid_send(hold_on, "SIGTERM")
    await scene.notifier.start()
    scene.hold.off()

    await eventually(scene.all_sent, 60, "every credential's e-mail sent", scene.logs())
    elapsed = time.monotonic() - started

    assert_each_kill_cut_a_session(scene)
    await assert_one_email_each(scene)
    await assert_one_event_each(scene, events)
    # About a minute, kills and restarts included: the cut sends wait out their 21 s lease.
    print(f"all sent {elapsed:.1f}s after the first event; kills: {scene.kills}")  # noqa: T201


def assert_each_kill_cut_a_session(scene: Scene) -> None:
    """Each kill found a session after its recipient and before any DATA, and cut it."""
    notifier_killed, sink_killed, notifier_stopped = scene.kills
    assert notifier_killed.fate == DROPPED, scene.kills
    assert notifier_killed.claim_state == SENDING, scene.kills  # the dead notifier recorded nothing
    assert sink_killed.fate == HELD, scene.kills  # the sink died holding it
    assert sink_killed.held.pid == scene.sink.pids[0] != scene.sink.pids[1]
    assert notifier_stopped.fate == DROPPED, scene.kills
    assert len(scene.notifier.pids) == 3
    # No session the killed sink held went on to DATA.
    assert not scene.hold.sessions(RELEASED, scene.sink.pids[0])


async def assert_one_email_each(scene: Scene) -> None:
    """One e-mail per credential, by recipient, Message-ID and link; the one its claim records."""
    mail = scene.our_mail()
    by_recipient = Counter(str(m["X-Sink-Rcpt-To"]) for m in mail)
    assert by_recipient == Counter(learner.email for learner in scene.learners), by_recipient
    by_message_id = Counter(str(m["Message-ID"]) for m in mail)
    assert len(by_message_id) == len(scene.learners), by_message_id.most_common(3)
    assert len({claim_link(m) for m in mail}) == len(scene.learners)

    claims = await scene.our_claims()
    assert len(claims) == len(scene.learners)
    for message in mail:
        claim = claims[str(message["X-Sink-Rcpt-To"])]
        assert claim["status"] == SENT
        assert claim["delivery"]["state"] == DELIVERED
        assert claim["message_id"] == str(message["Message-ID"])
        # The link in the e-mail is the one that works.
        assert claim["token_hash"] == token_hash(claim_link(message).rsplit("/", 1)[1])


async def assert_one_event_each(scene: Scene, events: list[Envelope[CredentialIssuedV1]]) -> None:
    """One notification-sent event per credential on Kafka, naming the e-mail that went out."""
    sent = await read_topic_to_end(
        scene.servers.kafka, topics.NOTIFICATION_SENT, keep=lambda r: r.tenant == scene.tenant
    )
    by_credential = Counter(record.json()["data"]["credential_id"] for record in sent)
    assert by_credential == Counter(event.data.credential_id for event in events), by_credential
    claims = {claim["_id"]: claim for claim in (await scene.our_claims()).values()}
    for record in sent:
        data = record.json()["data"]
        assert data["message_id"] == claims[data["credential_id"]]["message_id"]


# --- the sink's hold, on its own ---------------------------------------------------------------


def _message(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "tests@example.org"
    message["To"] = to
    message["Subject"] = "held"
    message.set_content("hello")
    return message


@pytest.mark.unit
async def test_the_sink_holds_recipients_until_released_and_reports_them(tmp_path: Path) -> None:
    hold = SinkHold(tmp_path / "hold")
    maildir = tmp_path / "mail"
    port = free_port()
    controller = make_controller("127.0.0.1", port, maildir, hold.directory)
    controller.start()
    try:
        hold.on()
        sending = asyncio.create_task(
            aiosmtplib.send(_message("a@example.org"), hostname="127.0.0.1", port=port, timeout=10)
        )
        await eventually(lambda: bool(hold.sessions()), 10, "a held session")
        [held] = hold.sessions()
        assert held.recipient == "a@example.org"
        assert hold.fate(held) == HELD
        assert hold.open_sessions(held.pid) == 0
        assert read_messages(maildir) == []  # before DATA: nothing stored

        hold.off()
        await sending
        assert hold.fate(held) == RELEASED
        assert [str(m["To"]) for m in read_messages(maildir)] == ["a@example.org"]
        await eventually(lambda: hold.open_sessions(held.pid) == 0, 10, "the session's end")

        # A client that gives up while held leaves a dropped session and nothing stored.
        hold.on()
        with pytest.raises(aiosmtplib.SMTPTimeoutError):
            await aiosmtplib.send(
                _message("b@example.org"), hostname="127.0.0.1", port=port, timeout=0.5
            )
        await eventually(lambda: bool(hold.sessions(DROPPED)), 10, "the session dropped")
        [gone] = hold.sessions(DROPPED)
        assert gone.recipient == "b@example.org"
        assert not hold.sessions(HELD)
        assert len(read_messages(maildir)) == 1
    finally:
        hold.off()
        controller.stop()
