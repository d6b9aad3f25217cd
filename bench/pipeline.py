"""The whole pipeline, end to end: uploads in, signed credentials and claim e-mails out.

Starts the embedded stack on free ports and the five services as processes (as the tests'
``platform`` fixture does), onboards an institution and registers learners, then runs three
measured phases on the same stack:

1. **full rate**: N learners each upload K pieces of evidence of 30 h as fast as
   ``--concurrency`` clients allow. An automatic reviewer approves them: by default the example
   rule-based reviewer (``examples/rule-based-reviewer``) as its own process, the institution in
   external review mode, trusting the provider the uploads name; with ``--reviewer api`` one
   evaluator approving through review's API from this process. K x 30 h = 90 h = 3 ECTS at the
   defaults: one award, one credential and one claim e-mail per learner.
2. **half rate**: fresh learners upload at half the evidence/s phase 1 sustained (paced), and
   the latency from final approval to claim e-mail is measured there (the p99 target's phase).
3. **issuance**: M competence-awarded events of the institution published straight to the
   issuer's input topic; the issuer's own credentials/s, against the raw signing rate.

It measures evidence/s, awards/s and e-mails/s (1 s buckets and over each phase), the latency
from a learner's final approval to their claim e-mail (p50, p95, p99), each service's peak RSS
(``VmHWM``), and, on the same servers, the raw rates of the hops the pipeline is made of: Kafka
produce→consume, a MongoDB upsert, an S3 put of 200 KB, an SMTP send, and an Ed25519 + RDFC-1.0
proof.

    .venv/bin/python bench/pipeline.py                       # from the repository root
    .venv/bin/python bench/pipeline.py --learners 50 --evidence 3
    .venv/bin/python bench/pipeline.py --reviewer api         # the evaluator approves instead

Prints a progress bar, the figures and PASS/FAIL per target of the issue, and exits 0 unless
the run itself failed (the targets are reported, not enforced). Writes
``bench/results/pipeline.json`` and ``bench/results/pipeline.png``.
"""

# A script run by path, not a package to import; it reports on stdout.
# ruff: noqa: INP001, T201

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import platform
import statistics
import sys
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import boto3
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from PIL import Image, ImageDraw
from pymongo import AsyncMongoClient

from microcred_shared.contracts import topics
from microcred_shared.contracts.envelope import envelope_type
from microcred_shared.contracts.events import CompetenceAwardedV1
from microcred_shared.demo import (
    BUILTIN_REVIEW,
    CLAIM_LINK,
    Account,
    PlatformClient,
    demo_institution,
    minimal_pdf,
    plain_text,
)
from microcred_shared.stack import control
from microcred_shared.stack.components import ensure_topics
from microcred_shared.stack.config import SERVICES, StackConfig
from microcred_shared.stack.daemon import running_pid
from microcred_shared.stack.smtp_sink import read_messages
from microcred_shared.testing.kafka import client_options
from microcred_shared.testing.reviewer import provision_reviewer, reviewer_process
from microcred_shared.testing.servers import Servers, embedded_servers

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
COMPETENCE = "digcomp-3-1"
HOURS = "30"
PASSWORD = "a-long-password-1"  # noqa: S105 - a throwaway account of the bench
FINISH_TIMEOUT_SECONDS = 600.0
RSS_BUDGET_MB = 150.0
P99_BUDGET_SECONDS = 2.0
ISSUANCE_SHARE = 0.8
EXTERNAL_REVIEW = {"mode": "external", "second_approval_above_hours": None}
#: The provider ``PlatformClient.upload`` names: the one the rule-based reviewer is told to trust.
TRUSTED_PROVIDER = "Open Learning Hub"
PHASES = ("full", "half")


@dataclass
class Timeline:
    """Wall-clock times (``time.time()``) of what the benchmark saw happen, per learner e-mail.

    Kafka records are placed at their timestamp (the producer's ``CreateTime``, same clock).
    """

    started: float = 0.0
    phase_of: dict[str, str] = field(default_factory=dict)  # learner e-mail -> phase
    phase_started: dict[str, float] = field(default_factory=dict)
    uploads: dict[str, list[float]] = field(default_factory=dict)
    #: Approvals the platform made its own: evidence-reviewed records (or, with ``--reviewer
    #: api``, review's answers to the evaluator's approvals).
    approvals: dict[str, list[float]] = field(default_factory=dict)
    #: The rule-based reviewer's decisions, as it published them on the decision topic.
    decisions: dict[str, list[float]] = field(default_factory=dict)
    awards: dict[str, float] = field(default_factory=dict)  # credential-issued, by learner
    emails: dict[str, float] = field(default_factory=dict)  # claim e-mail arrival stamp
    #: The issuance phase: credential-issued records by award id.
    issued: dict[str, float] = field(default_factory=dict)
    issuance_awards: set[str] = field(default_factory=set)
    #: The first competence-awarded record of the institution (the issuance phase's template).
    award_template: bytes | None = None
    errors: list[str] = field(default_factory=list)

    def of_phase(self, values: Mapping[str, Any], phase: str) -> dict[str, Any]:
        return {k: v for k, v in values.items() if self.phase_of.get(k) == phase}


def flat(values: Mapping[str, list[float]]) -> list[float]:
    return [t for times in values.values() for t in times]


# --- the pipeline ---------------------------------------------------------------------------


def note_record(
    topic: str, value: bytes, stamp: float, institution_id: str, timeline: Timeline, reviewer: str
) -> None:
    """Place one record of the watched topics on the timeline (other institutions' are skipped)."""
    try:
        event = json.loads(value)
        data = event["data"]
    except (ValueError, KeyError, TypeError):
        return
    if event.get("tenant") != institution_id:
        return
    if topic == topics.CREDENTIAL_ISSUED:
        if data["award_id"] in timeline.issuance_awards:
            timeline.issued.setdefault(data["award_id"], stamp)
        else:
            timeline.awards.setdefault(data["learner"]["email"], stamp)
    elif topic == topics.COMPETENCE_AWARDED:
        if timeline.award_template is None:
            timeline.award_template = value
    elif topic == topics.EVIDENCE_REVIEWED:
        if reviewer == "rules" and data.get("decision") == "approved":
            timeline.approvals.setdefault(data["learner"]["email"], []).append(stamp)
    elif data.get("decision") == "approved":  # the reviewer's decision topic
        timeline.decisions.setdefault(data["learner_id"], []).append(stamp)


async def watch_topics(
    servers: Servers, institution_id: str, timeline: Timeline, reviewer: str
) -> None:
    """Record the institution's approvals, decisions, awards and credentials as they happen."""
    watched = [topics.EVIDENCE_REVIEWED, topics.COMPETENCE_AWARDED, topics.CREDENTIAL_ISSUED]
    if reviewer == "rules":
        watched.append(topics.review_decisions(institution_id))
    consumer = AIOKafkaConsumer(
        *watched,
        **client_options(servers.kafka),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    try:
        async for record in consumer:
            note_record(
                record.topic,
                record.value,
                record.timestamp / 1000,
                institution_id,
                timeline,
                reviewer,
            )
    finally:
        await consumer.stop()


def maildir_files(maildir: Path) -> list[Path]:
    return [
        f for sub in ("new", "cur") if (maildir / sub).exists() for f in (maildir / sub).iterdir()
    ]


async def watch_mail(maildir: Path, learners: set[str], timeline: Timeline) -> None:
    """Record each learner's claim e-mail: when the sink wrote it (its Maildir file's mtime)."""
    seen: set[str] = set()
    while True:
        for path in maildir_files(maildir):
            if path.name in seen:
                continue
            seen.add(path.name)
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if not isinstance(message, EmailMessage) or not CLAIM_LINK.search(plain_text(message)):
                continue
            to = str(message.get("To", ""))
            learner = next((email for email in learners if email in to), None)
            if learner is not None and learner not in timeline.emails:
                # The file's mtime: the name's arrival stamp is in whole seconds.
                timeline.emails[learner] = path.stat().st_mtime
        await asyncio.sleep(0.1)


class Pacer:
    """Hands out upload slots ``interval`` seconds apart (None: no pacing)."""

    def __init__(self, per_second: float | None) -> None:
        self.interval = 1 / per_second if per_second else 0.0
        self.next_at = 0.0

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(self.next_at, now)
        self.next_at = slot + self.interval
        await asyncio.sleep(slot - now)


async def learner_journey(
    client: PlatformClient,
    institution_id: str,
    learner: Account,
    evaluator: Account | None,
    evidence: int,
    timeline: Timeline,
    pacer: Pacer,
) -> None:
    """Upload ``evidence`` pieces of 30 h; with an evaluator, approve each once review queued it."""
    ids = []
    for n in range(evidence):
        await pacer.wait()
        record = await client.upload(
            institution_id,
            learner,
            COMPETENCE,
            f"Workshop {n + 1}",
            HOURS,
            (f"proof-{n}.pdf", minimal_pdf(f"{learner.email} proof {n}"), "application/pdf"),
        )
        timeline.uploads.setdefault(learner.email, []).append(time.time())
        ids.append(record["id"])
    if evaluator is None:
        return  # the rule-based reviewer decides
    for evidence_id in ids:
        deadline = time.monotonic() + 120
        while await client.queued(institution_id, evidence_id, evaluator) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{evidence_id} not queued at review after 120 s")
            await asyncio.sleep(0.2)
        await client.approve(institution_id, evidence_id, evaluator)
        timeline.approvals.setdefault(learner.email, []).append(time.time())


def bar(done: int, total: int, width: int = 24) -> str:
    filled = round(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


async def show_progress(timeline: Timeline, label: str, learners: set[str], evidence: int) -> None:
    total = len(learners) * evidence
    while True:
        elapsed = time.time() - timeline.started
        uploaded = sum(len(timeline.uploads.get(e, [])) for e in learners)
        approved = sum(len(timeline.approvals.get(e, [])) for e in learners)
        awards = sum(1 for e in learners if e in timeline.awards)
        emails = sum(1 for e in learners if e in timeline.emails)
        print(
            f"\r  {label:<5} {bar(emails, len(learners))} {elapsed:6.1f} s  uploaded "
            f"{uploaded}/{total}  approved {approved}/{total}  awards {awards}/{len(learners)}  "
            f"claim e-mails {emails}/{len(learners)}   ",
            end="",
        )
        sys.stdout.flush()
        await asyncio.sleep(1)


async def run_phase(
    label: str,
    journey: Callable[[Account, Pacer], Awaitable[None]],
    accounts: list[Account],
    concurrency: int,
    pacer: Pacer,
    timeline: Timeline,
    evidence: int,
) -> None:
    """Every learner's journey, then wait until each has an award and a claim e-mail."""
    emails = {account.email for account in accounts}
    gate = asyncio.Semaphore(concurrency)
    timeline.phase_started[label] = time.time()

    async def one(account: Account) -> None:
        async with gate:
            await journey(account, pacer)

    progress = asyncio.create_task(show_progress(timeline, label, emails, evidence))
    try:
        await asyncio.gather(*(one(account) for account in accounts))
        deadline = time.monotonic() + FINISH_TIMEOUT_SECONDS

        def missing() -> int:
            return sum(1 for e in emails if e not in timeline.emails or e not in timeline.awards)

        while missing():
            if time.monotonic() > deadline:
                timeline.errors.append(
                    f"{label}: after {FINISH_TIMEOUT_SECONDS:.0f} s, {missing()} of "
                    f"{len(emails)} learners without their award or claim e-mail"
                )
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.1)  # a last progress line with the final counts
    finally:
        progress.cancel()
        await asyncio.gather(progress, return_exceptions=True)
        print()


async def issuance_phase(servers: Servers, timeline: Timeline, count: int) -> dict[str, Any]:
    """Publish ``count`` awards (copies of a real one, new ids) to the issuer; time its output."""
    if timeline.award_template is None:
        timeline.errors.append("issuance: no competence-awarded record of the institution seen")
        return {}
    template = json.loads(timeline.award_template)
    tag = uuid.uuid4().hex[:6]
    model = envelope_type(CompetenceAwardedV1)
    events = []
    for n in range(count):
        document = json.loads(json.dumps(template))
        award_id = f"bench-issue-{tag}-{n}"
        document["id"] = str(uuid.uuid4())
        document["data"]["award_id"] = award_id
        document["data"]["learner_id"] = f"bench-issue-learner-{tag}-{n}"
        document["data"]["learner"]["email"] = f"issue{n}.{tag}@example.org"
        events.append(model.model_validate(document))
        timeline.issuance_awards.add(award_id)
    producer = AIOKafkaProducer(**client_options(servers.kafka), acks="all", linger_ms=5)
    await producer.start()
    try:
        published = time.time()
        pending = [
            await producer.send(topics.COMPETENCE_AWARDED, e.to_bytes(), key=e.key())
            for e in events
        ]
        await asyncio.gather(*pending)
        sent = time.time()
    finally:
        await producer.stop()
    deadline = time.monotonic() + FINISH_TIMEOUT_SECONDS
    while len(timeline.issued) < count:
        done = len(timeline.issued)
        print(
            f"\r  issue {bar(done, count)} {time.time() - published:6.1f} s  credentials "
            f"{done}/{count}   ",
            end="",
        )
        sys.stdout.flush()
        if time.monotonic() > deadline:
            timeline.errors.append(f"issuance: {done} of {count} credentials after the timeout")
            break
        await asyncio.sleep(0.5)
    print(
        f"\r  issue {bar(len(timeline.issued), count)} {time.time() - published:6.1f} s  "
        f"credentials {len(timeline.issued)}/{count}   "
    )
    times = sorted(timeline.issued.values())
    result: dict[str, Any] = {
        "awards_published": count,
        "publish_seconds": round(sent - published, 3),
        "credentials_issued": len(times),
    }
    if times:
        result["per_second_from_publish"] = round(len(times) / max(times[-1] - published, 1e-9), 3)
        result.update(rate(times, published))
    return result


async def register_learners(
    client: PlatformClient, institution_id: str, args: argparse.Namespace, timeline: Timeline
) -> tuple[list[Account], list[Account]]:
    """Register the learners of both phases (not timed), ``args.concurrency`` at once."""
    half_learners = args.half_learners if args.half_learners is not None else args.learners
    print(
        f"  onboarded {institution_id} ({args.reviewer} review); registering "
        f"{args.learners} + {half_learners} learners"
    )
    gate = asyncio.Semaphore(args.concurrency)

    async def register(n: int) -> Account:
        async with gate:
            email = f"learner{n}.{uuid.uuid4().hex[:6]}@example.org"
            return await client.register(institution_id, f"Learner {n}", email, PASSWORD)

    accounts = await asyncio.gather(*(register(n) for n in range(args.learners + half_learners)))
    full, half = list(accounts[: args.learners]), list(accounts[args.learners :])
    for account in full:
        timeline.phase_of[account.email] = "full"
    for account in half:
        timeline.phase_of[account.email] = "half"
    return full, half


async def measured_phases(
    servers: Servers,
    args: argparse.Namespace,
    timeline: Timeline,
    full: list[Account],
    half: list[Account],
    journey: Callable[[Account, Pacer], Awaitable[None]],
    facts: dict[str, Any],
) -> None:
    """Full rate; half the full rate's sustained evidence/s, fresh learners; issuance."""
    before = await database_operations(servers)
    await run_phase("full", journey, full, args.concurrency, Pacer(None), timeline, args.evidence)
    spent = await database_operations(servers)
    operations = {k: spent[k] - before.get(k, 0) for k in spent}
    carried = len(full) * args.evidence
    facts["database_operations_full_phase"] = {
        **operations,
        "per_evidence": round(sum(operations.values()) / carried, 1) if carried else None,
    }
    sustained = float(end_to_end(timeline, "full", args.evidence)["per_second"])
    facts["half_rate_evidence_per_second"] = round(sustained / 2, 3)
    if half and sustained > 0:
        print(
            f"  half rate: {sustained / 2:.2f} evidence/s (full rate end to end: {sustained:.2f})"
        )
        await run_phase(
            "half",
            journey,
            half,
            args.concurrency,
            Pacer(sustained / 2),
            timeline,
            args.evidence,
        )
    if args.issuance:
        facts["issuance"] = await issuance_phase(servers, timeline, args.issuance)
    if "reviewer_pid" in facts:
        facts["reviewer_peak_rss_mib"] = round(
            (status_kib(facts["reviewer_pid"], "VmHWM") or 0) / 1024, 1
        )


async def database_operations(servers: Servers) -> dict[str, int]:
    """The database server's own operation counters (``serverStatus.opcounters``).

    Over a phase they count every service's reads and writes, the outbox relays' and periodic
    rounds' included: the database work one piece of evidence costs the whole platform.
    """
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri)
    try:
        status = await client.admin.command("serverStatus")
    finally:
        await client.close()
    counters = status.get("opcounters", {})
    return {k: int(v) for k, v in counters.items() if k != "command"}


async def pipeline(
    servers: Servers, config: StackConfig, args: argparse.Namespace, timeline: Timeline
) -> dict[str, Any]:
    """Onboard, register, run the full-rate, half-rate and issuance phases. Returns the facts."""
    urls = {service: config.service_url(service) for service in SERVICES}
    maildir = config.maildir
    facts: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=60) as http:
        client = PlatformClient(urls, http, lambda: read_messages(maildir))
        institution_id = f"bench-{uuid.uuid4().hex[:8]}"
        facts["institution"] = institution_id
        review = EXTERNAL_REVIEW if args.reviewer == "rules" else BUILTIN_REVIEW
        await client.onboard(demo_institution(institution_id, review))
        evaluator: Account | None = None
        if args.reviewer == "api":
            evaluator = await client.evaluator(
                institution_id,
                f"evaluator.{uuid.uuid4().hex[:8]}@example.org",
                "evaluator-password",
            )
        full, half = await register_learners(client, institution_id, args, timeline)
        email_of = {account.user_id: account.email for account in [*full, *half]}

        async def journey(account: Account, pacer: Pacer) -> None:
            await learner_journey(
                client, institution_id, account, evaluator, args.evidence, timeline, pacer
            )

        async with contextlib.AsyncExitStack() as stack:
            if args.reviewer == "rules":
                env = {
                    **await provision_reviewer(servers, institution_id),
                    "REVIEWER_INSTITUTION_ID": institution_id,
                    "REVIEWER_TRUSTED_PROVIDERS": TRUSTED_PROVIDER,
                    "REVIEWER_LOG_LEVEL": "WARNING",
                }
                log = config.logs / "rule-based-reviewer.log"
                facts["reviewer_pid"] = await stack.enter_async_context(reviewer_process(env, log))
            timeline.started = time.time()
            watchers = [
                asyncio.create_task(watch_topics(servers, institution_id, timeline, args.reviewer)),
                asyncio.create_task(watch_mail(maildir, set(timeline.phase_of), timeline)),
            ]
            try:
                await measured_phases(servers, args, timeline, full, half, journey, facts)
            finally:
                for task in watchers:
                    task.cancel()
                await asyncio.gather(*watchers, return_exceptions=True)
        # The reviewer's decisions are named by learner id.
        timeline.decisions = {
            email_of[k]: v for k, v in timeline.decisions.items() if k in email_of
        }
    return facts


# --- peak RSS of the services ---------------------------------------------------------------


def service_pids(config: StackConfig) -> dict[str, int]:
    """The services' processes: children of the services supervisor, by their module."""
    supervisor = running_pid(config, "services")
    found: dict[str, int] = {}
    if supervisor is None:
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = next(
            (line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), ""
        )
        if ppid != str(supervisor):
            continue
        for service in SERVICES:
            if f"microcred_{service}".encode() in cmdline:
                found[service] = int(entry.name)
    return found


def status_kib(pid: int, field_name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# --- raw hops -------------------------------------------------------------------------------


async def hop_kafka(servers: Servers, count: int = 3000) -> float:
    """Small messages produced (not awaited one by one) and consumed by one consumer."""
    topic = f"microcred.bench.hop.{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(**client_options(servers.kafka))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(servers.kafka),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(**client_options(servers.kafka), acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        payload = b'{"hop": "kafka", "pad": "' + b"x" * 100 + b'"}'
        started = time.perf_counter()
        pending = [await producer.send(topic, payload, key=str(n).encode()) for n in range(count)]
        await asyncio.gather(*pending)
        received = 0
        while received < count:
            batch = await consumer.getmany(timeout_ms=1000)
            received += sum(len(records) for records in batch.values())
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


async def hop_mongodb(servers: Servers, count: int = 1000) -> float:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(servers.mongodb_uri)
    try:
        collection = client["microcred_bench_hops"]["upserts"]
        await collection.update_one({"_id": "warm-up"}, {"$set": {"n": 0}}, upsert=True)
        started = time.perf_counter()
        for n in range(count):
            await collection.update_one(
                {"_id": f"doc-{n % 200}"}, {"$set": {"n": n}, "$inc": {"seen": 1}}, upsert=True
            )
        return count / (time.perf_counter() - started)
    finally:
        await client.close()


def hop_s3(servers: Servers, count: int = 50, size: int = 200 * 1024) -> float:
    s3 = boto3.client(
        "s3",
        endpoint_url=servers.s3_endpoint,
        aws_access_key_id=servers.s3_access_key,
        aws_secret_access_key=servers.s3_secret_key,
        region_name="us-east-1",
    )
    bucket = f"bench-hops-{uuid.uuid4().hex[:6]}"
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(size)
    s3.put_object(Bucket=bucket, Key="warm-up", Body=body)
    started = time.perf_counter()
    for n in range(count):
        s3.put_object(Bucket=bucket, Key=f"object-{n}", Body=body)
    return count / (time.perf_counter() - started)


async def hop_smtp(servers: Servers, count: int = 200) -> float:
    smtp = aiosmtplib.SMTP(hostname=servers.smtp_host, port=servers.smtp_port, start_tls=False)
    await smtp.connect()
    try:
        started = time.perf_counter()
        for n in range(count):
            message = EmailMessage()
            message["From"] = "bench@microcred.localhost"
            message["To"] = "hop@example.org"
            message["Subject"] = f"hop {n}"
            message.set_content("A raw SMTP hop of the pipeline benchmark.\n" * 20)
            await smtp.send_message(message)
        return count / (time.perf_counter() - started)
    finally:
        await smtp.quit()


def hop_signing(seconds: float = 3.0) -> float:
    """A whole eddsa-rdfc-2022 proof (Ed25519 + RDFC-1.0), with bench/signing.py's credential."""
    spec = importlib.util.spec_from_file_location("bench_signing", BENCH_DIR / "signing.py")
    if spec is None or spec.loader is None:
        raise ImportError(BENCH_DIR / "signing.py")
    signing: Any = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = signing  # its dataclasses look their module up
    spec.loader.exec_module(signing)
    warnings.filterwarnings("ignore", message="EdDSA is deprecated")
    private_key = signing.Ed25519PrivateKey.generate()
    did = signing.institution_did(signing.PUBLIC_URL, signing.AWARDING)
    options = signing.ProofOptions(f"{did}#key-1", datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    unsigned = signing.sample_credential()
    measured = signing.measure(
        "di_sign", "proof", lambda: signing.sign(unsigned, private_key, options), seconds / 3, 3
    )
    return float(measured.per_second)


async def raw_hops(servers: Servers) -> dict[str, float]:
    hops: dict[str, float] = {}
    print("  raw hops:", end="")
    measures: list[tuple[str, Callable[[], Awaitable[float]]]] = [
        ("kafka_produce_consume", lambda: hop_kafka(servers)),
        ("mongodb_upsert", lambda: hop_mongodb(servers)),
        ("s3_put_200kb", lambda: asyncio.to_thread(hop_s3, servers)),
        ("smtp_send", lambda: hop_smtp(servers)),
        ("ed25519_rdfc_proof", lambda: asyncio.to_thread(hop_signing)),
    ]
    for name, measure in measures:
        hops[name] = round(await measure(), 1)
        print(f" {name} {hops[name]:,.0f}/s", end="")
        sys.stdout.flush()
    print()
    return hops


# --- figures --------------------------------------------------------------------------------


def rate(times: list[float], start: float) -> dict[str, float | int]:
    """Count, per second from ``start``, and per second while active (first to last event)."""
    if not times:
        return {"count": 0, "per_second_run": 0.0, "per_second_active": 0.0}
    first, last = min(times), max(times)
    return {
        "count": len(times),
        "per_second_run": round(len(times) / max(last - start, 1e-9), 3),
        "per_second_active": round((len(times) - 1) / (last - first), 3) if last > first else 0.0,
    }


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, math.ceil(p / 100 * len(ordered)) - 1)
    return ordered[rank]


def buckets(times: list[float], start: float, seconds: int) -> list[int]:
    counts = [0] * seconds
    for t in times:
        index = int(t - start)
        if 0 <= index < seconds:
            counts[index] += 1
    return counts


def final_approvals(timeline: Timeline, evidence: int) -> dict[str, float]:
    """Per learner whose every piece of evidence was approved: the last approval's time."""
    return {
        email: max(times) for email, times in timeline.approvals.items() if len(times) >= evidence
    }


def latency_figures(latencies: list[float]) -> dict[str, float | int]:
    if not latencies:
        return {"count": 0}
    return {
        "p50": round(percentile(latencies, 50), 3),
        "p95": round(percentile(latencies, 95), 3),
        "p99": round(percentile(latencies, 99), 3),
        "max": round(max(latencies), 3),
        "mean": round(statistics.fmean(latencies), 3),
        "count": len(latencies),
    }


def end_to_end(timeline: Timeline, phase: str, evidence: int) -> dict[str, float | int]:
    """Evidence carried all the way to a claim e-mail, per second from the phase's start.

    A learner's K pieces count once their claim e-mail is in; the clock runs from the phase's
    start to the last claim e-mail, ramp-up and drain included.
    """
    start = timeline.phase_started.get(phase, 0.0)
    emails = list(timeline.of_phase(timeline.emails, phase).values())
    if not emails:
        return {"evidence": 0, "seconds": 0.0, "per_second": 0.0}
    seconds = max(emails) - start
    return {
        "evidence": evidence * len(emails),
        "seconds": round(seconds, 3),
        "per_second": round(evidence * len(emails) / max(seconds, 1e-9), 3),
    }


def phase_figures(timeline: Timeline, phase: str, evidence: int) -> dict[str, Any]:
    start = timeline.phase_started.get(phase)
    if start is None:
        return {}
    uploads = flat(timeline.of_phase(timeline.uploads, phase))
    approvals = flat(timeline.of_phase(timeline.approvals, phase))
    awards = list(timeline.of_phase(timeline.awards, phase).values())
    emails = timeline.of_phase(timeline.emails, phase)
    finals = timeline.of_phase(final_approvals(timeline, evidence), phase)
    latencies = [emails[e] - t for e, t in finals.items() if e in emails]
    figures: dict[str, Any] = {
        "learners": sum(1 for p in timeline.phase_of.values() if p == phase),
        "evidence": rate(uploads, start),
        "approvals": rate(approvals, start),
        "awards": rate(awards, start),
        "claim_emails": rate(list(emails.values()), start),
        "seconds": round(max([*uploads, *awards, *emails.values(), start]) - start, 2),
        "approval_to_email_seconds": latency_figures(latencies),
        "end_to_end": end_to_end(timeline, phase, evidence),
    }
    decisions = timeline.of_phase(timeline.decisions, phase)
    if decisions:
        # The reviewer's last decision -> the platform's evidence-reviewed record of it.
        lags = [finals[e] - max(times) for e, times in decisions.items() if e in finals and times]
        figures["reviewer_decision_to_approval_seconds"] = latency_figures(lags)
    return figures


COLOURS = {
    "evidence": (31, 119, 180),
    "awards": (214, 39, 40),
    "e-mails": (44, 160, 44),
    "issuance": (255, 127, 14),
}
PHASE_COLOURS = {"full": (148, 103, 189), "half": (23, 190, 207)}


def chart(
    path: Path,
    series: dict[str, list[int]],
    latency: dict[str, list[tuple[float, float]]],
    markers: dict[str, float],
) -> None:
    """Two panels drawn with Pillow: per-second throughput, and latency by approval time."""
    width, height, margin = 1000, 700, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    seconds = max((len(v) for v in series.values()), default=1)
    panels = [(30, 330), (380, 680)]

    def x_of(s: float) -> float:
        return margin + (width - 20 - margin) * s / max(seconds, 1)

    def frame(top: int, bottom: int, y_max: float, title: str, unit: str) -> None:
        draw.rectangle((margin, top, width - 20, bottom), outline="black")
        draw.text((margin, top - 18), title, fill="black")
        for tick in range(5):
            y = bottom - (bottom - top) * tick / 4
            draw.line((margin - 4, y, margin, y), fill="black")
            draw.text((4, y - 6), f"{y_max * tick / 4:.1f}{unit}", fill="black")
        step = max(1, seconds // 10)
        for s in range(0, seconds + 1, step):
            draw.line((x_of(s), bottom, x_of(s), bottom + 4), fill="black")
            draw.text((x_of(s) - 8, bottom + 6), f"{s}s", fill="black")
        for name, at in markers.items():
            draw.line((x_of(at), top, x_of(at), bottom), fill=(200, 200, 200))
            draw.text((x_of(at) + 3, top + 3), name, fill=(120, 120, 120))

    top, bottom = panels[0]
    y_max = max(1, *(max(v, default=0) for v in series.values()))
    frame(top, bottom, y_max, "per second, 1 s buckets (from the first upload)", "")
    for n, (name, values) in enumerate(series.items()):
        colour = COLOURS[name]
        points = [
            (x_of(i + 0.5), bottom - (bottom - top) * v / y_max) for i, v in enumerate(values)
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((width - 160, top + 8 + 14 * n), name, fill=colour)
    top, bottom = panels[1]
    l_max = max([y for points in latency.values() for _, y in points] + [P99_BUDGET_SECONDS])
    frame(top, bottom, l_max, "final approval -> claim e-mail, by approval time", "s")
    budget_y = bottom - (bottom - top) * P99_BUDGET_SECONDS / l_max
    draw.line((margin, budget_y, width - 20, budget_y), fill=(150, 150, 150))
    draw.text((width - 160, budget_y - 14), "2 s target (p99)", fill=(120, 120, 120))
    for n, (phase, points) in enumerate(latency.items()):
        colour = PHASE_COLOURS[phase]
        draw.text((width - 160, top + 8 + 14 * n), f"{phase} rate", fill=colour)
        for x_s, y_s in points:
            x, y = x_of(x_s), bottom - (bottom - top) * y_s / l_max
            draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=colour)
    image.save(path)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    timeline = Timeline()
    with embedded_servers() as servers:
        config = servers.stack
        assert config is not None  # noqa: S101 - embedded mode
        await ensure_topics(servers.kafka, partitions=3)
        print(f"  stack up in {config.data_dir}; starting the five services")
        await asyncio.to_thread(control.start_group, config, "services", servers.platform_env())
        try:
            facts = await pipeline(servers, config, args, timeline)
            pids = service_pids(config)
            rss = {
                service: round((status_kib(pid, "VmHWM") or 0) / 1024, 1)
                for service, pid in sorted(pids.items())
            }
            hops = await raw_hops(servers)
        finally:
            await asyncio.to_thread(control.stop_group, config, "services")
    start = timeline.started
    issued = list(timeline.issued.values())
    every = [
        *flat(timeline.uploads),
        *timeline.awards.values(),
        *timeline.emails.values(),
        *issued,
        start + 1,
    ]
    seconds = int(max(every) - start) + 1
    series = {
        "evidence": buckets(flat(timeline.uploads), start, seconds),
        "awards": buckets(list(timeline.awards.values()), start, seconds),
        "e-mails": buckets(list(timeline.emails.values()), start, seconds),
        "issuance": buckets(issued, start, seconds),
    }
    finals = final_approvals(timeline, args.evidence)
    latency = {
        phase: [
            (t - start, timeline.emails[e] - t)
            for e, t in timeline.of_phase(finals, phase).items()
            if e in timeline.emails
        ]
        for phase in PHASES
    }
    markers = {f"{p} rate": t - start for p, t in timeline.phase_started.items()}
    if issued:
        markers["issuance"] = min(issued) - start
    chart(args.chart, series, latency, markers)
    phases = {phase: phase_figures(timeline, phase, args.evidence) for phase in PHASES}
    issuance = facts.get("issuance", {})
    targets = judge(phases, issuance, rss, hops)
    load = os.getloadavg()
    return {
        "benchmark": "pipeline",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": [round(x, 2) for x in load],
        },
        "parameters": {
            "learners": args.learners,
            "half_rate_learners": phases["half"].get("learners", 0),
            "evidence_per_learner": args.evidence,
            "hours_each": HOURS,
            "concurrency": args.concurrency,
            "issuance_awards": args.issuance,
            "reviewer": args.reviewer,
            "review": (
                "external: examples/rule-based-reviewer as its own process, trusting "
                f"{TRUSTED_PROVIDER!r}; final approval = the evidence-reviewed record's timestamp"
                if args.reviewer == "rules"
                else "builtin; one evaluator approving through review's API from the benchmark; "
                "final approval = review's answer to the last approval"
            ),
        },
        "institution": facts.get("institution"),
        "half_rate_evidence_per_second": facts.get("half_rate_evidence_per_second"),
        "database_operations_full_phase": facts.get("database_operations_full_phase"),
        "phases": phases,
        "issuance": issuance,
        "peak_rss_mib": rss,
        "reviewer_peak_rss_mib": facts.get("reviewer_peak_rss_mib"),
        "raw_hops_per_second": hops,
        "slowest_hop": min(INFRASTRUCTURE, key=lambda name: hops[name]),
        "targets": targets,
        "per_second_buckets": series,
        "phase_starts_seconds": {k: round(v, 2) for k, v in markers.items()},
        "errors": timeline.errors,
        "note": args.note,
    }


#: The infrastructure hops (the signing rate is judged against issuance, not end to end).
INFRASTRUCTURE = ("kafka_produce_consume", "mongodb_upsert", "s3_put_200kb", "smtp_send")


def judge(
    phases: dict[str, Any], issuance: dict[str, Any], rss: dict[str, float], hops: dict[str, float]
) -> dict[str, Any]:
    slowest = min(INFRASTRUCTURE, key=lambda name: hops[name])
    evidence_rate = float(phases["full"].get("end_to_end", {}).get("per_second", 0.0))
    half = phases["half"].get("approval_to_email_seconds", {})
    p99 = half.get("p99", math.inf)
    peak = max(rss.values(), default=math.inf)
    issue_rate = float(issuance.get("per_second_active", 0.0))
    signing = hops["ed25519_rdfc_proof"]
    return {
        "e2e_vs_slowest_hop": {
            "target": "evidence/s carried to a claim e-mail (full-rate phase) >= 50% of the "
            "slowest raw infrastructure hop",
            "measured": f"{evidence_rate:.2f}/s vs 50% of {slowest} {hops[slowest]:.1f}/s",
            "ratio": round(evidence_rate / hops[slowest], 3) if hops[slowest] else None,
            "verdict": verdict(evidence_rate >= 0.5 * hops[slowest]),
        },
        "issuance_vs_signing": {
            "target": f"issuer credentials/s >= {ISSUANCE_SHARE:.0%} of the raw Ed25519 + "
            "RDFC-1.0 proof rate",
            "measured": f"{issue_rate:.2f}/s vs {ISSUANCE_SHARE:.0%} of {signing:.1f}/s",
            "ratio": round(issue_rate / signing, 3) if signing else None,
            "verdict": verdict(issue_rate >= ISSUANCE_SHARE * signing),
        },
        "p99_approval_to_email": {
            "target": f"p99 < {P99_BUDGET_SECONDS} s at half the sustained rate (half-rate phase)",
            "measured": f"{p99} s over {half.get('count', 0)} learners",
            "verdict": verdict(p99 < P99_BUDGET_SECONDS),
        },
        "rss_per_service": {
            "target": f"peak RSS < {RSS_BUDGET_MB:.0f} MB per service",
            "measured": f"largest {peak:.1f} MiB ({peak * 1.048576:.1f} MB)",
            "verdict": verdict(peak * 1.048576 < RSS_BUDGET_MB and len(rss) == len(SERVICES)),
        },
    }


def report(result: dict[str, Any]) -> None:
    print()
    print(f"{'phase / figure':<34} {'count':>7} {'/s over phase':>14} {'/s active':>10}")
    for phase, figures in result["phases"].items():
        if not figures:
            continue
        for name in ("evidence", "approvals", "awards", "claim_emails"):
            row = figures[name]
            print(
                f"{phase + ' ' + name:<34} {row['count']:>7} {row['per_second_run']:>14.2f} "
                f"{row['per_second_active']:>10.2f}"
            )
        e2e = figures["end_to_end"]
        print(
            f"{phase + ' evidence -> e-mail, end to end':<34} {e2e['evidence']:>7} "
            f"{e2e['per_second']:>14.2f}"
        )
        latency = figures["approval_to_email_seconds"]
        if latency.get("count"):
            print(
                f"{phase + ' approval -> e-mail':<34} p50 {latency['p50']:.2f} s, "
                f"p95 {latency['p95']:.2f} s, p99 {latency['p99']:.2f} s, "
                f"max {latency['max']:.2f} s ({latency['count']} learners)"
            )
    operations = result.get("database_operations_full_phase")
    if operations:
        print(
            f"{'database operations, full phase':<34} {operations['per_evidence']} per evidence "
            f"(insert {operations.get('insert', 0)}, query {operations.get('query', 0)}, "
            f"update {operations.get('update', 0)}, delete {operations.get('delete', 0)}, "
            f"getmore {operations.get('getmore', 0)})"
        )
    issuance = result["issuance"]
    if issuance:
        print(
            f"{'issuance (issuer alone)':<34} {issuance.get('credentials_issued', 0):>7} "
            f"{issuance.get('per_second_from_publish', 0):>14.2f} "
            f"{issuance.get('per_second_active', 0):>10.2f}"
        )
    print(
        f"{'peak RSS (VmHWM), MiB':<34} "
        + ", ".join(f"{k} {v}" for k, v in result["peak_rss_mib"].items())
        + (
            f"; reviewer {result['reviewer_peak_rss_mib']}"
            if result["reviewer_peak_rss_mib"]
            else ""
        )
    )
    print("raw hops per second:")
    for name, value in result["raw_hops_per_second"].items():
        print(f"  {name:<32} {value:>10,.1f}")
    print("targets (reported, not enforced):")
    for name, target in result["targets"].items():
        print(f"  {target['verdict']:<5} {name}: {target['measured']}  [{target['target']}]")
    for error in result["errors"]:
        print(f"error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=20, help="learners of the full-rate phase")
    parser.add_argument(
        "--half-learners",
        type=int,
        default=None,
        help="fresh learners of the half-rate phase (default: --learners; 0 skips it)",
    )
    parser.add_argument("--evidence", type=int, default=3, help="pieces of 30 h per learner")
    parser.add_argument("--concurrency", type=int, default=8, help="learners at work at once")
    parser.add_argument(
        "--issuance", type=int, default=100, help="awards published to the issuer (0 skips it)"
    )
    parser.add_argument(
        "--reviewer",
        choices=("rules", "api"),
        default="rules",
        help="rules: the example rule-based reviewer process; api: an evaluator via review's API",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "pipeline.json")
    parser.add_argument("--chart", type=Path, default=RESULTS / "pipeline.png")
    parser.add_argument("--note", default="", help="free text stored in the JSON")
    args = parser.parse_args()
    print(
        f"pipeline: {args.learners} learners x {args.evidence} evidence of {HOURS} h, "
        f"{args.reviewer} review, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    result = asyncio.run(run(args))
    report(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output} and {args.chart}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
