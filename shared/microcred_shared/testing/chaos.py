"""Fault injection on the whole platform: crashes and outages while evidence flows.

Every component runs as a process this module owns (``testing.processes``): Kafka, SecantusDB,
SeaweedFS, the SMTP sink and the five services, on free ports in one data directory. One
institution, its evaluator and the learners are made first. Then, fault by fault, a cohort of
learners starts uploading (K pieces of 30 hours each, K x 30 h = one award at the defaults) while
an automatic evaluator approves whatever waits in review's queue; while the cohort is on its way
the fault is injected:

- each of the five services is SIGKILLed and started again;
- the Kafka broker is SIGKILLed and started again on its data;
- the database is SIGKILLed and started again on its data;
- the database drops the notifier's connection right after the relay accepted an e-mail
  (SecantusDB's ``failCommand`` fail point), until it is switched off a few seconds later;
- S3 is stopped while uploads are on their way, and started again a few seconds later;
- the SMTP relay is killed while the notifier talks to it, and started again a few seconds later.

A learner retries what failed as a person would: an upload that got no answer or a 5xx is sent
again (intake answers a second copy of a stored file with 409 and the evidence's id, so the
learner learns it was kept after all). A fault's row is over when its component answers again and
everything its cohort was doing has reached its end (each acknowledged upload on the ledger, each
learner's claim e-mail received). At the end the invariants are checked over every cohort:

- no upload acknowledged and then lost: the record at intake, its file in S3, its hours on the
  ledger;
- every approved hour counted exactly once: a learner's hours on the ledger are those of the
  evidence review approved, and of no other;
- one award per learner over the threshold, one credential per award (one credential id in the
  credential-issued records of an award, however often they were published), one claim e-mail
  per credential.

The e-mail faults are placed where the one window no SMTP client can close (RFC 1047: the relay
has the message, its sender has not recorded it) is not open: the notifier or the relay is killed
only while the relay holds a session at its recipient (the sink's ``--hold-dir``), no session
could still store a message and everything stored is recorded (see
``services/notifier/tests/test_exactly_one_email.py``).

    .venv/bin/python -m microcred_shared.testing.chaos            # make chaos: 10 per fault
    .venv/bin/python -m microcred_shared.testing.chaos --cohort 3  # the test suite's form

It prints a table (fault, in flight, lost, duplicated, time to recover) and exits non-zero when
a row has anything lost or duplicated, or a fault did not recover.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http import HTTPStatus
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.exceptions import BotoCoreError, ClientError
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from microcred_shared.contracts import topics
from microcred_shared.demo import (
    BUILTIN_REVIEW,
    CLAIM_LINK,
    Account,
    PlatformClient,
    demo_institution,
    minimal_pdf,
    plain_text,
)
from microcred_shared.mongo import Document
from microcred_shared.stack.components import (
    kafka_component,
    mongodb_component,
    s3_component,
)
from microcred_shared.stack.config import SERVICES, StackConfig
from microcred_shared.stack.smtp_sink import HELD, read_messages
from microcred_shared.testing.kafka import read_topic_to_end
from microcred_shared.testing.processes import OwnProcess, own_service, own_smtp_sink
from microcred_shared.testing.servers import Servers, free_ports_config, stack_servers
from microcred_shared.testing.sink_hold import HeldSession, SinkHold

COMPETENCE = "digcomp-3-1"
HOURS = 30
PASSWORD = "a-long-password-1"  # noqa: S105 - throwaway accounts of the run
#: The notifier's SMTP time-out: its lease on a send is then 2 x 3 + 15 = 21 s.
SMTP_TIMEOUT_SECONDS = 3.0
#: How long S3, the relay and the fail point stay down once the fault is in.
OUTAGE_SECONDS = 5.0
#: A row not over within this long is reported as not recovered.
RECOVERY_TIMEOUT_SECONDS = 240.0
POLL_SECONDS = 0.2
RETRY_SECONDS = 0.5

#: Faults that need the relay holding a session of the notifier when they strike.
MAIL_FAULTS = ("notifier", "mongodb-fail-point", "smtp")

FAULTS = (
    "intake",
    "review",
    "accounting",
    "issuer",
    "notifier",
    "kafka",
    "mongodb",
    "mongodb-fail-point",
    "s3",
    "smtp",
)

DESCRIPTIONS = {
    "intake": "SIGKILL intake during uploads, restart",
    "review": "SIGKILL review during uploads and approvals, restart",
    "accounting": "SIGKILL accounting while it posts hours, restart",
    "issuer": "SIGKILL the issuer as awards come in, restart",
    "notifier": "SIGKILL the notifier in an SMTP session, restart",
    "kafka": "SIGKILL the Kafka broker, restart on its data",
    "mongodb": "SIGKILL the database, restart on its data",
    "mongodb-fail-point": "database drops the notifier after the relay's 250 (5 s)",
    "s3": "S3 stopped during uploads (5 s), restarted",
    "smtp": "SMTP relay killed in a session, down 5 s, restarted",
}


class ChaosError(RuntimeError):
    """The run could not go on (a refused request, a component that did not come back)."""


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str, interval: float = POLL_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise ChaosError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(interval)


# --- the stack: every component a process of the run's own --------------------------------------


@dataclass
class ChaosStack:
    cfg: StackConfig
    servers: Servers
    hold: SinkHold
    processes: dict[str, OwnProcess]

    @property
    def urls(self) -> dict[str, str]:
        return {service: self.cfg.service_url(service) for service in SERVICES}

    def logs(self, name: str) -> str:
        return f"--- {name}'s log ends with:\n{self.processes[name].log()}"


def database_with_test_commands(cfg: StackConfig) -> OwnProcess:
    """SecantusDB as the stack runs it, with ``configureFailPoint`` enabled."""
    component = mongodb_component(cfg)
    command = [*component.command, "--enable-test-commands"]
    return OwnProcess(dataclasses.replace(component, command=command))


@contextlib.asynccontextmanager
async def chaos_stack(directory: Path) -> AsyncIterator[ChaosStack]:
    cfg = free_ports_config(directory)
    hold = SinkHold(directory / "hold")
    kafka = OwnProcess(kafka_component(cfg))
    processes: dict[str, OwnProcess] = {
        "kafka": kafka,
        "mongodb": database_with_test_commands(cfg),
        "s3": OwnProcess(s3_component(cfg)),
        "smtp": own_smtp_sink(cfg, hold_dir=hold.directory),
    }
    try:
        await asyncio.gather(*(process.start() for process in processes.values()))
        servers = stack_servers(cfg)
        notifier_settings = {
            "smtp_timeout_seconds": str(SMTP_TIMEOUT_SECONDS),
            "delivery_poll_seconds": "0.5",
            "retry_first_seconds": "0.5",
            "retry_longest_seconds": "2",
        }
        for service in SERVICES:
            settings = notifier_settings if service == "notifier" else {}
            processes[service] = own_service(servers, cfg, service, settings)
        await asyncio.gather(*(processes[service].start() for service in SERVICES))
        yield ChaosStack(cfg, servers, hold, processes)
    finally:
        hold.off()
        for process in reversed(processes.values()):
            await process.stop()


# --- learners and the automatic evaluator -------------------------------------------------------


@dataclass
class Learner:
    account: Account
    name: str
    #: Acknowledged evidence: id -> when the learner was told it was kept.
    acked: dict[str, float] = field(default_factory=dict)
    #: Uploads that got no answer (or a 5xx) and were sent again.
    retried: int = 0


@dataclass
class Row:
    fault: str
    cohort: list[Learner]
    injected_at: float = 0.0
    recovered_at: float | None = None
    in_flight: int = 0
    lost: int = 0
    duplicated: int = 0
    retried_uploads: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def seconds_to_recover(self) -> float | None:
        if self.recovered_at is None:
            return None
        return self.recovered_at - self.injected_at


@dataclass
class Observed:
    """What the platform's own records say, read from the database, the sink and S3."""

    evidence: dict[str, Document]  # intake's evidence records of the institution, by id
    ledger: dict[str, list[Document]]  # accounting's approval entries, by evidence id
    awards: dict[str, list[Document]]  # accounting's competence awards, by learner id
    credentials: dict[str, Document]  # the issuer's credentials, by award id
    claim_mail: Counter[str]  # claim e-mails received, by recipient
    approved: set[str]  # evidence review decided to approve
    #: Learners whose claim the notifier records as delivered, its event published.
    recorded_mail: set[str] = field(default_factory=set)


class Chaos:
    def __init__(
        self, stack: ChaosStack, evidence_per_learner: int, echo: Callable[[str], None]
    ) -> None:
        self.stack = stack
        self.evidence_per_learner = evidence_per_learner
        self.echo = echo
        self.http = httpx.AsyncClient(timeout=30)
        self.client = PlatformClient(
            stack.urls, self.http, lambda: read_messages(stack.cfg.maildir)
        )
        self.mongo: AsyncMongoClient[Document] = AsyncMongoClient(
            stack.servers.mongodb_uri, tz_aware=True, serverSelectionTimeoutMS=2000
        )
        self.institution_id = f"chaos-{uuid.uuid4().hex[:8]}"
        self.evaluator: Account | None = None
        self.learners: list[Learner] = []
        self.reviewing = True
        self.held_since = 0.0
        #: Maildir file name -> (recipient, Message-ID) of a claim e-mail; None for other mail.
        self._mail_seen: dict[str, tuple[str, str] | None] = {}

    async def close(self) -> None:
        await self.http.aclose()
        await self.mongo.close()

    # setting up --------------------------------------------------------------------------------

    async def prepare(self, learners: int) -> None:
        await self.client.onboard(demo_institution(self.institution_id, BUILTIN_REVIEW))
        self.evaluator = await self.client.evaluator(
            self.institution_id, f"evaluator.{uuid.uuid4().hex[:8]}@example.org", PASSWORD
        )
        gate = asyncio.Semaphore(2)  # intake hashes one password at a time anyway

        async def register(n: int) -> Learner:
            async with gate:
                email = f"learner{n}.{uuid.uuid4().hex[:6]}@example.org"
                name = f"Learner {n}"
                return Learner(
                    await self.client.register(self.institution_id, name, email, PASSWORD), name
                )

        self.learners = list(await asyncio.gather(*(register(n) for n in range(learners))))

    # the learners' side ------------------------------------------------------------------------

    async def upload_until_kept(self, learner: Learner, n: int) -> str:
        """Upload the learner's n-th evidence until intake says it is kept; return its id."""
        url = f"{self.stack.urls['intake']}/institutions/{self.institution_id}/evidence"
        form = {
            "competence_id": COMPETENCE,
            "title": f"Workshop {n + 1}",
            "hours": str(HOURS),
            "start_date": "2026-09-01",
            "end_date": "2026-09-05",
            "provider": "Open Learning Hub",
            "kind": "course",
            "description": "A short course with a final project.",
        }
        # The same bytes on every try: a second copy of a kept file is refused with its id.
        proof = minimal_pdf(f"{learner.account.email} proof {n}")
        while True:
            try:
                response = await self.http.post(
                    url,
                    headers=learner.account.auth,
                    data=form,
                    files=[("files", (f"proof-{n}.pdf", proof, "application/pdf"))],
                )
            except httpx.TransportError:
                learner.retried += 1
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if response.status_code == HTTPStatus.CREATED:
                return str(response.json()["id"])
            if response.status_code == HTTPStatus.CONFLICT and "evidence_id" in response.text:
                return str(response.json()["evidence_id"])
            if response.status_code >= HTTPStatus.INTERNAL_SERVER_ERROR:
                learner.retried += 1
                await asyncio.sleep(RETRY_SECONDS)
                continue
            raise ChaosError(f"upload refused: {response.status_code} {response.text[:300]}")

    async def journey(self, learner: Learner) -> None:
        for n in range(self.evidence_per_learner):
            evidence_id = await self.upload_until_kept(learner, n)
            learner.acked[evidence_id] = time.time()

    async def review_forever(self) -> None:
        """The automatic evaluator: approve whatever waits in the queue, through review's API."""
        assert self.evaluator is not None  # noqa: S101 - prepared first
        base = f"{self.stack.urls['review']}/institutions/{self.institution_id}/queue"
        auth = self.evaluator.auth
        while self.reviewing:
            with contextlib.suppress(httpx.TransportError, ValueError):
                queue = await self.http.get(base, headers=auth, params={"limit": 500})
                if queue.status_code == HTTPStatus.OK:
                    for item in queue.json():
                        evidence = f"{base}/{item['evidence_id']}"
                        await self.http.post(f"{evidence}/claim", headers=auth)
                        await self.http.post(
                            f"{evidence}/decision", json={"decision": "approve"}, headers=auth
                        )
            await asyncio.sleep(0.3)

    # what the platform recorded ----------------------------------------------------------------

    def claim_mail(self) -> Counter[str]:
        maildir = self.stack.cfg.maildir
        for sub in ("new", "cur"):
            folder = maildir / sub
            if not folder.exists():
                continue
            for path in folder.iterdir():
                if path.name in self._mail_seen:
                    continue
                self._mail_seen[path.name] = _claim_recipient(path)
        return Counter(seen[0] for seen in self._mail_seen.values() if seen is not None)

    async def observe(self) -> Observed:
        institution = {"institution_id": self.institution_id}
        intake = self.mongo["microcred_intake"]
        accounting = self.mongo["microcred_accounting"]
        evidence = {d["_id"]: d async for d in intake["evidence"].find(institution)}
        ledger: dict[str, list[Document]] = {}
        async for entry in accounting["ledger"].find({**institution, "kind": "approval"}):
            ledger.setdefault(entry["evidence_id"], []).append(entry)
        awards: dict[str, list[Document]] = {}
        async for award in accounting["awards"].find({**institution, "kind": "competence"}):
            awards.setdefault(award["learner_id"], []).append(award)
        credentials = {
            d["_id"]: d
            async for d in self.mongo["microcred_issuer"]["credentials"].find(
                {**institution, "tombstone": {"$ne": True}}
            )
        }
        approved = {
            d["_id"]
            async for d in self.mongo["microcred_review"]["queue"].find(
                {**institution, "decision.decision": "approved"}, {"_id": 1}
            )
        }
        recorded = {
            d["learner"]["email"]
            async for d in self.mongo["microcred_notifier"]["claims"].find(
                {**institution, "delivery.state": "delivered", "outbox_pending": False},
                {"learner.email": 1},
            )
        }
        return Observed(
            evidence, ledger, awards, credentials, self.claim_mail(), approved, recorded
        )

    async def observed(self) -> Observed:
        """``observe``, waiting through a database outage."""
        while True:
            try:
                return await self.observe()
            except PyMongoError:
                await asyncio.sleep(RETRY_SECONDS)

    def in_flight(self, cohort: list[Learner], seen: Observed) -> int:
        """Acknowledged evidence not on the ledger yet, and learners still awaiting their e-mail."""
        waiting = sum(1 for learner in cohort for e in learner.acked if e not in seen.ledger)
        unmailed = sum(1 for learner in cohort if not seen.claim_mail[learner.account.email])
        return waiting + unmailed

    def done(
        self, cohort: list[Learner], journeys: list[asyncio.Task[None]], seen: Observed
    ) -> bool:
        """Every journey over: its evidence on the ledger, its e-mail received and recorded."""
        return all(task.done() for task in journeys) and all(
            all(e in seen.ledger for e in learner.acked)
            and seen.claim_mail[learner.account.email]
            and learner.account.email in seen.recorded_mail
            for learner in cohort
        )

    # the faults --------------------------------------------------------------------------------

    async def wait_for_progress(self, cohort: list[Learner], fault: str) -> None:
        """Until the cohort is where ``fault`` should find it (uploads, hours, awards, e-mails)."""
        total = len(cohort) * self.evidence_per_learner
        ids = {learner.account.user_id for learner in cohort}

        async def ready() -> bool:
            acked = sum(len(learner.acked) for learner in cohort)
            if fault in {"intake", "review", "kafka", "mongodb", "s3"}:
                return acked >= max(1, total // 3)
            seen = await self.observed()
            if fault in {"accounting", "issuer"}:
                # Approvals are being counted: the cohort's awards are about to reach the
                # issuer, none of its e-mails can have gone yet.
                return (
                    any(entry[0]["learner_id"] in ids for entry in seen.ledger.values())
                    or acked == total
                )
            return any(seen.awards.get(i) for i in ids)

        await eventually(ready, 120, f"the cohort of {fault} under way")

    async def strike(self, row: Row) -> None:
        """The fault is about to strike: note when, and what its cohort has under way."""
        row.in_flight = self.in_flight(row.cohort, await self.observed())
        row.injected_at = time.time()

    async def inject(self, fault: str, row: Row) -> None:
        stack = self.stack
        processes = stack.processes
        if fault in {"intake", "review", "accounting", "issuer"}:
            await self.strike(row)
            await processes[fault].kill()
            await processes[fault].start()
        elif fault == "notifier":
            held = await self.wait_for_a_held_session(since=self.held_since, notifier_dies=True)
            await self.strike(row)
            await processes["notifier"].kill()
            await eventually(
                lambda: _settled(stack.hold, held), 10, "the killed notifier's session to end"
            )
            stack.hold.off()
            await processes["notifier"].start()
        elif fault in {"kafka", "mongodb"}:
            await self.strike(row)
            await processes[fault].kill()
            await processes[fault].start()
        elif fault == "mongodb-fail-point":
            await self.fail_point_after_accepted_mail(row)
        elif fault == "s3":
            await self.strike(row)
            await processes["s3"].kill()
            await asyncio.sleep(OUTAGE_SECONDS)
            await processes["s3"].start()
        elif fault == "smtp":
            await self.wait_for_a_held_session(since=self.held_since, notifier_dies=False)
            await self.strike(row)
            await processes["smtp"].kill()
            stack.hold.off()
            await asyncio.sleep(OUTAGE_SECONDS)
            await processes["smtp"].start()
        else:
            raise ChaosError(f"no such fault: {fault}")

    async def fail_point_after_accepted_mail(self, row: Row) -> None:
        """The notifier's updates fail (connection dropped) from a held send until 5 s after it."""
        stack = self.stack
        await self.wait_for_a_held_session(since=self.held_since, notifier_dies=False)
        admin = self.mongo.admin
        await admin.command(
            "configureFailPoint",
            "failCommand",
            mode="alwaysOn",
            data={
                "failCommands": ["update", "findAndModify"],
                "appName": "microcred-notifier",
                "closeConnection": True,
            },
        )
        await self.strike(row)
        try:
            # Released, the held sends reach DATA and the relay's 250: their record now fails.
            before = sum(self.claim_mail().values())
            stack.hold.off()

            async def accepted() -> bool:
                return sum(self.claim_mail().values()) > before

            await eventually(accepted, 30, "an e-mail accepted while the database is away")
            await asyncio.sleep(OUTAGE_SECONDS)
        finally:
            await admin.command("configureFailPoint", "failCommand", mode="off")

    async def wait_for_a_held_session(self, since: float, *, notifier_dies: bool) -> HeldSession:
        """A session the relay holds at its recipient, with nothing else between 250 and record.

        As in the notifier's exactly-one-e-mail test: no session of the sink has an accepted
        recipient (none could still store a message), and, when the notifier is to die, every
        stored message is recorded as delivered and no outbox waits.
        """
        hold = self.stack.hold
        found: list[HeldSession] = []
        claims = self.mongo["microcred_notifier"]["claims"]

        async def ready() -> bool:
            pid = self.stack.processes["smtp"].pid
            fresh = [s for s in hold.sessions(HELD, pid) if s.since >= since]
            if not fresh or hold.open_sessions(pid):
                return False
            chosen = fresh[-1]
            if hold.fate(chosen) != HELD or time.time() - chosen.since > SMTP_TIMEOUT_SECONDS / 2:
                return False
            if notifier_dies:
                self.claim_mail()
                stored = {seen[1] for seen in self._mail_seen.values() if seen is not None}
                recorded = {
                    c.get("message_id")
                    async for c in claims.find({"delivery.state": "delivered"}, {"message_id": 1})
                }
                if not stored <= recorded or await claims.count_documents({"outbox_pending": True}):
                    return False
            found.append(chosen)
            return True

        await eventually(ready, 60, "a session held with nothing else in flight", 0.05)
        return found[0]

    # one row -----------------------------------------------------------------------------------

    async def run_fault(self, fault: str, cohort: list[Learner]) -> Row:
        row = Row(fault, cohort)
        self.echo(f"  {fault}: {len(cohort)} learners start")
        if fault in MAIL_FAULTS:
            # Their e-mails wait at the relay's recipient step until the fault is in.
            self.held_since = time.time()
            self.stack.hold.on()
        journeys = [asyncio.create_task(self.journey(learner)) for learner in cohort]
        try:
            await self.wait_for_progress(cohort, fault)
            await self.inject(fault, row)

            async def over() -> bool:
                failed = [t for t in journeys if t.done() and t.exception() is not None]
                if failed:
                    raise ChaosError(f"a learner gave up: {failed[0].exception()}")
                return self.done(cohort, journeys, await self.observed())

            try:
                await eventually(over, RECOVERY_TIMEOUT_SECONDS, f"the cohort of {fault} through")
                row.recovered_at = time.time()
            except ChaosError as stuck:
                row.notes.append(str(stuck))
        finally:
            for task in journeys:
                task.cancel()
            await asyncio.gather(*journeys, return_exceptions=True)
        row.retried_uploads = sum(learner.retried for learner in cohort)
        recovered = row.seconds_to_recover
        self.echo(
            f"  {fault}: in flight {row.in_flight}, "
            + (f"through in {recovered:.1f} s" if recovered is not None else "NOT RECOVERED")
        )
        return row


# --- the invariants -----------------------------------------------------------------------------


def _claim_recipient(path: Path) -> tuple[str, str] | None:
    """The recipient and Message-ID of a claim e-mail in the Maildir; None for other mail."""
    from email import message_from_bytes, policy  # noqa: PLC0415 - only here

    try:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
    except OSError:
        return None
    if not isinstance(message, EmailMessage) or not CLAIM_LINK.search(plain_text(message)):
        return None
    recipient = str(message.get("X-Sink-Rcpt-To", ""))
    return (recipient, str(message["Message-ID"])) if recipient else None


def _settled(hold: SinkHold, held: HeldSession) -> Awaitable[bool]:
    async def check() -> bool:
        return hold.fate(held) != HELD

    return check()


@dataclass
class Judge:
    """What of a cohort's work is lost or duplicated, each finding named."""

    seen: Observed
    credential_ids: dict[str, set[str]]
    object_exists: Callable[[str], bool]
    threshold_hours: int
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)

    def cohort(self, cohort: list[Learner]) -> None:
        for learner in cohort:
            self.uploads(learner)
            self.ledger(learner)
            self.awards(learner)

    def uploads(self, learner: Learner) -> None:
        """No upload acknowledged to the learner and then lost: its record and its files."""
        who = learner.account.email
        for evidence_id in learner.acked:
            record = self.seen.evidence.get(evidence_id)
            if record is None:
                self.lost.append(f"{who}: acknowledged evidence {evidence_id} has no record")
                continue
            self.lost.extend(
                f"{who}: the file {stored['key']} of {evidence_id} is not in S3"
                for stored in record.get("files", [])
                if not self.object_exists(stored["key"])
            )

    def mine(self, learner: Learner) -> list[Document]:
        user_id = learner.account.user_id
        return [e for e in self.seen.evidence.values() if e["learner_id"] == user_id]

    def ledger(self, learner: Learner) -> None:
        """Every approved hour counted once, and no hour that was not approved."""
        who, approved = learner.account.email, self.seen.approved
        for record in self.mine(learner):
            evidence_id = record["_id"]
            entries = self.seen.ledger.get(evidence_id, [])
            if evidence_id in approved and not entries:
                self.lost.append(f"{who}: the approved hours of {evidence_id} are not counted")
            if len(entries) > 1:
                self.duplicated.append(f"{who}: {evidence_id} is counted {len(entries)} times")
            if entries and evidence_id not in approved:
                self.duplicated.append(f"{who}: {evidence_id} is counted without approval")

    def awards(self, learner: Learner) -> None:
        """One award over the threshold, one credential per award, one e-mail per credential."""
        who = learner.account.email
        hours = sum(HOURS for r in self.mine(learner) if r["_id"] in self.seen.ledger)
        awards = self.seen.awards.get(learner.account.user_id, [])
        if hours >= self.threshold_hours and not [a for a in awards if a["status"] == "active"]:
            self.lost.append(f"{who}: {hours} h counted and no award")
        if len(awards) > 1:
            self.duplicated.append(f"{who}: {len(awards)} awards")
        for award in awards:
            if award["_id"] not in self.seen.credentials:
                self.lost.append(f"{who}: award {award['_id']} has no credential")
            ids = self.credential_ids.get(award["_id"], set())
            if len(ids) > 1:
                self.duplicated.append(f"{who}: award {award['_id']} has credentials {sorted(ids)}")
        mails = self.seen.claim_mail[who]
        if awards and not mails:
            self.lost.append(f"{who}: no claim e-mail")
        if mails > 1:
            self.duplicated.append(f"{who}: {mails} claim e-mails")


async def credential_ids_by_award(servers: Servers, institution_id: str) -> dict[str, set[str]]:
    """Every credential id published for each award (credential-issued, duplicates included)."""
    records = await read_topic_to_end(
        servers.kafka, topics.CREDENTIAL_ISSUED, keep=lambda r: r.tenant == institution_id
    )
    found: dict[str, set[str]] = {}
    for record in records:
        data = record.json()["data"]
        found.setdefault(str(data["award_id"]), set()).add(str(data["credential_id"]))
    return found


def object_exists(servers: Servers) -> Callable[[str], bool]:
    s3 = boto3.client(
        "s3",
        endpoint_url=servers.s3_endpoint,
        aws_access_key_id=servers.s3_access_key,
        aws_secret_access_key=servers.s3_secret_key,
        region_name="us-east-1",
    )

    def exists(key: str) -> bool:
        try:
            s3.head_object(Bucket="microcred-evidence", Key=key)
        except (ClientError, BotoCoreError):
            return False
        return True

    return exists


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Result:
    rows: list[Row]
    totals: Row
    findings: list[str]
    #: What the institution's records hold in the end, over all cohorts.
    counts: dict[str, int]

    @property
    def clean(self) -> bool:
        return not self.findings and all(
            row.recovered_at is not None and not row.lost and not row.duplicated
            for row in self.rows
        )


async def run_chaos(
    directory: Path,
    *,
    cohort: int,
    evidence_per_learner: int = 3,
    faults: tuple[str, ...] = FAULTS,
    echo: Callable[[str], None] = print,
) -> Result:
    threshold_hours = 90  # the defaults: 3 ECTS of 30 h
    echo(f"chaos: starting the stack and the five services in {directory}")
    async with chaos_stack(directory) as stack:
        chaos = Chaos(stack, evidence_per_learner, echo)
        try:
            echo(f"chaos: registering {cohort * len(faults)} learners")
            await chaos.prepare(cohort * len(faults))
            reviewer = asyncio.create_task(chaos.review_forever())
            rows = []
            try:
                for n, fault in enumerate(faults):
                    rows.append(
                        await chaos.run_fault(fault, chaos.learners[n * cohort : (n + 1) * cohort])
                    )
            finally:
                chaos.reviewing = False
                await reviewer
            seen = await chaos.observed()
            credential_ids = await credential_ids_by_award(stack.servers, chaos.institution_id)
            exists = object_exists(stack.servers)
            findings: list[str] = []
            for row in rows:
                judge = Judge(seen, credential_ids, exists, threshold_hours)
                await asyncio.to_thread(judge.cohort, row.cohort)
                row.lost, row.duplicated = len(judge.lost), len(judge.duplicated)
                findings += [f"{row.fault}: lost: {x}" for x in judge.lost]
                findings += [f"{row.fault}: duplicated: {x}" for x in judge.duplicated]
            totals = Row("all", chaos.learners)
            totals.in_flight = sum(row.in_flight for row in rows)
            totals.lost = sum(row.lost for row in rows)
            totals.duplicated = sum(row.duplicated for row in rows)
            totals.retried_uploads = sum(row.retried_uploads for row in rows)
            counts = {
                "acknowledged": sum(len(learner.acked) for learner in chaos.learners),
                "evidence": len(seen.evidence),
                "counted": len(seen.ledger),
                "awards": sum(len(a) for a in seen.awards.values()),
                "credentials": len(seen.credentials),
                "claim_emails": sum(seen.claim_mail.values()),
            }
            totals.notes.append(
                "in the end: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
            )
            return Result(rows, totals, findings, counts)
        finally:
            await chaos.close()


def table(result: Result) -> str:
    header = (
        f"{'fault':<19} {'what':<57} {'in flight':>9} {'lost':>4} {'dup':>4} "
        f"{'recovered':>9} {'retries':>7}"
    )
    lines = [header, "-" * len(header)]
    for row in [*result.rows, result.totals]:
        recover = row.seconds_to_recover
        shown = f"{recover:.1f} s" if recover is not None else ("-" if row.fault == "all" else "NO")
        description = DESCRIPTIONS.get(row.fault, "every cohort")
        lines.append(
            f"{row.fault:<19} {description:<57} {row.in_flight:>9} {row.lost:>4} "
            f"{row.duplicated:>4} {shown:>9} {row.retried_uploads:>7}"
        )
    lines += [
        (
            "in flight: acknowledged uploads not yet on the ledger + learners still awaiting "
            "their claim e-mail, when the fault struck"
        ),
        (
            "recovered: from the fault until all its cohort's work is through (on the ledger, "
            "e-mailed, recorded)"
        ),
        "retries: uploads the learners had to send again (no answer, or a 5xx)",
        *result.totals.notes,
        *(note for row in result.rows for note in row.notes),
    ]
    return "\n".join(lines)


def as_json(result: Result) -> dict[str, Any]:
    return {
        "rows": [
            {
                "fault": row.fault,
                "description": DESCRIPTIONS.get(row.fault, ""),
                "learners": len(row.cohort),
                "in_flight": row.in_flight,
                "lost": row.lost,
                "duplicated": row.duplicated,
                "seconds_to_recover": row.seconds_to_recover,
                "retried_uploads": row.retried_uploads,
                "notes": row.notes,
            }
            for row in result.rows
        ],
        "counts": result.counts,
        "findings": result.findings,
        "clean": result.clean,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cohort", type=int, default=10, help="learners per fault")
    parser.add_argument("--evidence", type=int, default=3, help="pieces of 30 h per learner")
    parser.add_argument("--fault", action="append", choices=FAULTS, help="only these (repeat)")
    parser.add_argument("--output", type=Path, help="also write the result as JSON here")
    args = parser.parse_args()
    # The broker's clients log every refused connection while it is down: that is the point.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    faults = tuple(args.fault) if args.fault else FAULTS
    with tempfile.TemporaryDirectory(prefix="microcred-chaos-") as directory:
        result = asyncio.run(
            run_chaos(
                Path(directory),
                cohort=args.cohort,
                evidence_per_learner=args.evidence,
                faults=faults,
            )
        )
    print(table(result))  # noqa: T201
    for finding in result.findings:
        print(finding)  # noqa: T201
    if args.output:
        args.output.write_text(json.dumps(as_json(result), indent=2) + "\n")
    print("chaos: clean" if result.clean else "chaos: NOT CLEAN")  # noqa: T201
    return 0 if result.clean else 1


if __name__ == "__main__":
    sys.exit(main())
