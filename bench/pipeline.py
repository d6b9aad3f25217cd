"""The whole pipeline, end to end: uploads in, signed credentials and claim e-mails out.

Starts the embedded stack on free ports and the five services as processes (as the tests'
``platform`` fixture does), onboards an institution, registers N learners and an evaluator,
then (the measured part) each learner uploads K pieces of evidence of 30 hours and the
evaluator approves them through review's API, from this process. K x 30 h = 90 h = 3 ECTS at the
defaults: one award, one credential and one claim e-mail per learner. It measures:

- evidence/s (uploads accepted), awards/s (``credential-issued`` records of the institution) and
  e-mails/s (claim e-mails in the SMTP sink's Maildir), in 1 s buckets and over the run;
- the latency from a learner's final approval (when review answered it) to their claim e-mail
  (the mtime of the sink's Maildir file): p50, p95, p99;
- each service's peak RSS (``VmHWM`` of its process);
- in the same run, the raw rates of the hops the pipeline is made of: Kafka produce→consume,
  a MongoDB upsert, an S3 put of 200 KB, an SMTP send, and an Ed25519 + RDFC-1.0 proof.

    .venv/bin/python bench/pipeline.py                       # from the repository root
    .venv/bin/python bench/pipeline.py --learners 50 --evidence 3

Prints a progress line, the figures and PASS/FAIL per target of the issue, and exits 0 unless
the run itself failed (the targets are reported, not enforced). Writes
``bench/results/pipeline.json`` and ``bench/results/pipeline.png``.
"""

# A script run by path, not a package to import; it reports on stdout.
# ruff: noqa: INP001, T201

from __future__ import annotations

import argparse
import asyncio
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
from collections.abc import Awaitable, Callable
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
from microcred_shared.testing.servers import Servers, embedded_servers

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
COMPETENCE = "digcomp-3-1"
HOURS = "30"
PASSWORD = "a-long-password-1"  # noqa: S105 - a throwaway account of the bench
FINISH_TIMEOUT_SECONDS = 600.0
RSS_BUDGET_MB = 150.0
P99_BUDGET_SECONDS = 2.0


@dataclass
class Timeline:
    """Wall-clock times (``time.time()``) of what the benchmark saw happen."""

    started: float = 0.0
    uploads: list[float] = field(default_factory=list)
    approvals: list[float] = field(default_factory=list)
    final_approval: dict[str, float] = field(default_factory=dict)  # learner e-mail -> time
    awards: list[float] = field(default_factory=list)
    emails: dict[str, float] = field(default_factory=dict)  # learner e-mail -> arrival stamp
    errors: list[str] = field(default_factory=list)


# --- the pipeline ---------------------------------------------------------------------------


async def watch_awards(servers: Servers, institution_id: str, timeline: Timeline) -> None:
    """Record every credential-issued record of the institution (its Kafka timestamp)."""
    consumer = AIOKafkaConsumer(
        topics.CREDENTIAL_ISSUED,
        **client_options(servers.kafka),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                tenant = json.loads(record.value).get("tenant")
            except (ValueError, AttributeError):
                continue
            if tenant == institution_id:
                timeline.awards.append(record.timestamp / 1000)
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
                stamp = path.stat().st_mtime
                timeline.emails[learner] = stamp
        await asyncio.sleep(0.1)


async def learner_journey(
    client: PlatformClient,
    institution_id: str,
    learner: Account,
    evaluator: Account,
    evidence: int,
    timeline: Timeline,
) -> None:
    """Upload ``evidence`` pieces of 30 h, wait until review queued them, approve each."""
    ids = []
    for n in range(evidence):
        record = await client.upload(
            institution_id,
            learner,
            COMPETENCE,
            f"Workshop {n + 1}",
            HOURS,
            (f"proof-{n}.pdf", minimal_pdf(f"{learner.email} proof {n}"), "application/pdf"),
        )
        timeline.uploads.append(time.time())
        ids.append(record["id"])
    for evidence_id in ids:
        deadline = time.monotonic() + 120
        while await client.queued(institution_id, evidence_id, evaluator) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{evidence_id} not queued at review after 120 s")
            await asyncio.sleep(0.2)
        await client.approve(institution_id, evidence_id, evaluator)
        timeline.approvals.append(time.time())
    timeline.final_approval[learner.email] = timeline.approvals[-1]


async def show_progress(timeline: Timeline, learners: int, evidence: int) -> None:
    total = learners * evidence
    while True:
        elapsed = time.time() - timeline.started
        print(
            f"\r  {elapsed:6.1f} s  uploaded {len(timeline.uploads)}/{total}  approved "
            f"{len(timeline.approvals)}/{total}  awards {len(timeline.awards)}/{learners}  "
            f"claim e-mails {len(timeline.emails)}/{learners}   ",
            end="",
        )
        sys.stdout.flush()
        await asyncio.sleep(1)


async def pipeline(
    servers: Servers, config: StackConfig, learners: int, evidence: int, concurrency: int
) -> tuple[Timeline, str]:
    urls = {service: config.service_url(service) for service in SERVICES}
    maildir = config.maildir
    timeline = Timeline()
    async with httpx.AsyncClient(timeout=60) as http:
        client = PlatformClient(urls, http, lambda: read_messages(maildir))
        institution_id = f"bench-{uuid.uuid4().hex[:8]}"
        await client.onboard(demo_institution(institution_id, BUILTIN_REVIEW))
        evaluator = await client.evaluator(
            institution_id, f"evaluator.{uuid.uuid4().hex[:8]}@example.org", "evaluator-password"
        )
        print(f"  onboarded {institution_id}; registering {learners} learners")
        gate = asyncio.Semaphore(concurrency)

        async def register(n: int) -> Account:
            async with gate:
                email = f"learner{n}.{uuid.uuid4().hex[:6]}@example.org"
                return await client.register(institution_id, f"Learner {n}", email, PASSWORD)

        accounts = await asyncio.gather(*(register(n) for n in range(learners)))
        emails = {account.email for account in accounts}

        async def journey(account: Account) -> None:
            async with gate:
                await learner_journey(
                    client, institution_id, account, evaluator, evidence, timeline
                )

        timeline.started = time.time()
        watchers = [
            asyncio.create_task(watch_awards(servers, institution_id, timeline)),
            asyncio.create_task(watch_mail(maildir, emails, timeline)),
            asyncio.create_task(show_progress(timeline, learners, evidence)),
        ]
        try:
            await asyncio.gather(*(journey(account) for account in accounts))
            deadline = time.monotonic() + FINISH_TIMEOUT_SECONDS
            while len(timeline.emails) < learners or len(timeline.awards) < learners:
                if time.monotonic() > deadline:
                    timeline.errors.append(
                        f"after {FINISH_TIMEOUT_SECONDS:.0f} s: {len(timeline.awards)} awards, "
                        f"{len(timeline.emails)} claim e-mails of {learners}"
                    )
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.1)  # a last progress line with the final counts
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            print()
    return timeline, institution_id


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
    """Count, per second over the run (from the first upload), and per second while active."""
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


COLOURS = {"evidence": (31, 119, 180), "awards": (214, 39, 40), "e-mails": (44, 160, 44)}


def chart(path: Path, series: dict[str, list[int]], latency: list[tuple[float, float]]) -> None:
    """Two panels drawn with Pillow: per-second throughput, and latency by approval time."""
    width, height, margin = 1000, 700, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    seconds = max((len(v) for v in series.values()), default=1)
    panels = [(30, 330), (380, 680)]

    def frame(top: int, bottom: int, y_max: float, title: str, unit: str) -> None:
        draw.rectangle((margin, top, width - 20, bottom), outline="black")
        draw.text((margin, top - 18), title, fill="black")
        for tick in range(5):
            y = bottom - (bottom - top) * tick / 4
            draw.line((margin - 4, y, margin, y), fill="black")
            draw.text((4, y - 6), f"{y_max * tick / 4:.1f}{unit}", fill="black")
        step = max(1, seconds // 10)
        for s in range(0, seconds + 1, step):
            x = margin + (width - 20 - margin) * s / max(seconds, 1)
            draw.line((x, bottom, x, bottom + 4), fill="black")
            draw.text((x - 8, bottom + 6), f"{s}s", fill="black")

    top, bottom = panels[0]
    y_max = max(1, *(max(v, default=0) for v in series.values()))
    frame(top, bottom, y_max, "per second, 1 s buckets (from the first upload)", "")
    for n, (name, values) in enumerate(series.items()):
        colour = COLOURS[name]
        points = [
            (
                margin + (width - 20 - margin) * (i + 0.5) / seconds,
                bottom - (bottom - top) * v / y_max,
            )
            for i, v in enumerate(values)
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        draw.text((width - 160, top + 8 + 14 * n), name, fill=colour)
    top, bottom = panels[1]
    l_max = max([y for _, y in latency] + [P99_BUDGET_SECONDS])
    frame(top, bottom, l_max, "final approval -> claim e-mail, by approval time", "s")
    budget_y = bottom - (bottom - top) * P99_BUDGET_SECONDS / l_max
    draw.line((margin, budget_y, width - 20, budget_y), fill=(150, 150, 150))
    draw.text((width - 160, budget_y - 14), "2 s target (p99)", fill=(120, 120, 120))
    for x_s, y_s in latency:
        x = margin + (width - 20 - margin) * x_s / max(seconds, 1)
        y = bottom - (bottom - top) * y_s / l_max
        draw.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(148, 103, 189))
    image.save(path)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with embedded_servers() as servers:
        config = servers.stack
        assert config is not None  # noqa: S101 - embedded mode
        await ensure_topics(servers.kafka, partitions=3)
        print(f"  stack up in {config.data_dir}; starting the five services")
        await asyncio.to_thread(control.start_group, config, "services", servers.platform_env())
        try:
            timeline, institution_id = await pipeline(
                servers, config, args.learners, args.evidence, args.concurrency
            )
            pids = service_pids(config)
            rss = {
                service: round((status_kib(pid, "VmHWM") or 0) / 1024, 1)
                for service, pid in sorted(pids.items())
            }
            hops = await raw_hops(servers)
        finally:
            await asyncio.to_thread(control.stop_group, config, "services")
    start = timeline.started
    latencies = [
        timeline.emails[email] - approved
        for email, approved in timeline.final_approval.items()
        if email in timeline.emails
    ]
    end = max([*timeline.uploads, *timeline.awards, *timeline.emails.values(), start + 1])
    seconds = int(end - start) + 1
    series = {
        "evidence": buckets(timeline.uploads, start, seconds),
        "awards": buckets(timeline.awards, start, seconds),
        "e-mails": buckets(list(timeline.emails.values()), start, seconds),
    }
    points = [
        (
            timeline.final_approval[email] - start,
            timeline.emails[email] - timeline.final_approval[email],
        )
        for email in timeline.final_approval
        if email in timeline.emails
    ]
    chart(args.chart, series, points)
    figures: dict[str, Any] = {
        "evidence": rate(timeline.uploads, start),
        "approvals": rate(timeline.approvals, start),
        "awards": rate(timeline.awards, start),
        "claim_emails": rate(list(timeline.emails.values()), start),
        "run_seconds": round(end - start, 2),
    }
    if latencies:
        figures["approval_to_email_seconds"] = {
            "p50": round(percentile(latencies, 50), 3),
            "p95": round(percentile(latencies, 95), 3),
            "p99": round(percentile(latencies, 99), 3),
            "max": round(max(latencies), 3),
            "mean": round(statistics.fmean(latencies), 3),
            "count": len(latencies),
        }
    slowest = min(hops, key=lambda name: hops[name])
    evidence_rate = float(figures["evidence"]["per_second_active"])
    p99 = figures.get("approval_to_email_seconds", {}).get("p99", math.inf)
    peak = max(rss.values(), default=math.inf)
    targets = {
        "e2e_vs_slowest_hop": {
            "target": "evidence/s end to end >= 50% of the slowest raw hop's rate",
            "measured": f"{evidence_rate:.2f}/s vs 50% of {slowest} {hops[slowest]:.1f}/s",
            "verdict": verdict(evidence_rate >= 0.5 * hops[slowest]),
        },
        "p99_approval_to_email": {
            "target": f"p99 < {P99_BUDGET_SECONDS} s (issue: at half the sustained rate; "
            "measured here at the full rate of this run, no half-rate run)",
            "measured": f"{p99} s",
            "verdict": verdict(p99 < P99_BUDGET_SECONDS),
        },
        "rss_per_service": {
            "target": f"peak RSS < {RSS_BUDGET_MB:.0f} MB per service",
            "measured": f"largest {peak:.1f} MiB ({peak * 1.048576:.1f} MB)",
            "verdict": verdict(peak * 1.048576 < RSS_BUDGET_MB and len(rss) == len(SERVICES)),
        },
    }
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
            "evidence_per_learner": args.evidence,
            "hours_each": HOURS,
            "concurrency": args.concurrency,
            "review": "builtin; one evaluator approving through review's API from the benchmark",
        },
        "institution": institution_id,
        "figures": figures,
        "peak_rss_mib": rss,
        "raw_hops_per_second": hops,
        "slowest_hop": slowest,
        "targets": targets,
        "per_second_buckets": series,
        "errors": timeline.errors,
        "note": args.note,
    }


def report(result: dict[str, Any]) -> None:
    figures = result["figures"]
    print()
    print(f"{'figure':<34} {'count':>7} {'/s over run':>12} {'/s active':>10}")
    for name in ("evidence", "approvals", "awards", "claim_emails"):
        row = figures[name]
        print(
            f"{name:<34} {row['count']:>7} {row['per_second_run']:>12.2f} "
            f"{row['per_second_active']:>10.2f}"
        )
    latency = figures.get("approval_to_email_seconds")
    if latency:
        print(
            f"{'final approval -> claim e-mail':<34} p50 {latency['p50']:.2f} s, "
            f"p95 {latency['p95']:.2f} s, p99 {latency['p99']:.2f} s, max {latency['max']:.2f} s"
        )
    print(
        f"{'peak RSS (VmHWM), MiB':<34} "
        + ", ".join(f"{k} {v}" for k, v in result["peak_rss_mib"].items())
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
    parser.add_argument("--learners", type=int, default=20)
    parser.add_argument("--evidence", type=int, default=3, help="pieces of 30 h per learner")
    parser.add_argument("--concurrency", type=int, default=8, help="learners at work at once")
    parser.add_argument("--output", type=Path, default=RESULTS / "pipeline.json")
    parser.add_argument("--chart", type=Path, default=RESULTS / "pipeline.png")
    parser.add_argument("--note", default="", help="free text stored in the JSON")
    args = parser.parse_args()
    print(
        f"pipeline: {args.learners} learners x {args.evidence} evidence of {HOURS} h, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    result = asyncio.run(run(args))
    report(result)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output} and {args.chart}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
