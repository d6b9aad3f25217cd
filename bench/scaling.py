"""Scaling runs: one vs two instances of each consumer service in one consumer group.

For each consumer service (review, accounting, issuer, notifier) it starts the service as its own
process(es) on the embedded stack (``own_service``, as the tests do), makes a fresh institution,
warms the instance(s) up, then publishes N valid events to the service's input topic at once and
times how fast the service turns them into its output: review's requests to the institution's
reviewer, accounting's competence awards, the issuer's credentials, the notifier's sent
notifications. Then the same with two instances in the service's consumer group, and a fresh
institution (so nothing is deduplicated). It reports events/s per run and the ratio 2 vs 1.

    .venv/bin/python bench/scaling.py                        # from the repository root
    .venv/bin/python bench/scaling.py --events 50 --services issuer

The services' input topics get ``--partitions`` partitions (default 4: an even number, so two
instances get equal shares). Prints a progress bar and the figures; writes
``bench/results/scaling.json`` and ``bench/results/scaling.png``. Exits 0 unless a run failed
(the 1.6x target is reported, not enforced).
"""

# A script run by path, not a package to import; it reports on stdout.
# ruff: noqa: INP001, T201

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from aiokafka.partitioner import DefaultPartitioner
from PIL import Image, ImageDraw

from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import (
    AwardedEvidence,
    CompetenceAwardedV1,
    CompetenceSnapshot,
    CredentialIssuedV1,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    InstitutionRef,
    LearnerProfile,
    StoredFile,
)
from microcred_shared.demo import PlatformClient, demo_institution
from microcred_shared.service import consumer_group
from microcred_shared.stack.components import ensure_topics
from microcred_shared.stack.config import StackConfig
from microcred_shared.stack.daemon import running_pid
from microcred_shared.stack.smtp_sink import read_messages
from microcred_shared.testing.kafka import client_options, group_lag
from microcred_shared.testing.processes import OwnProcess, own_service
from microcred_shared.testing.servers import Servers, embedded_servers, free_port

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"
#: A competence of the demo institution's catalogue (registered at the issuer at onboarding).
COMPETENCE = CompetenceSnapshot(id="digcomp-3-1", title="Developing digital content")
EXTERNAL_REVIEW = {"mode": "external", "second_approval_above_hours": None}
SPEEDUP_TARGET = 1.6
WARM_UP = 8
TIMEOUT_SECONDS = 900.0
#: The order the services are measured in: no service's input is a later one's leftover output
#: (the notifier before the issuer makes credentials; the issuer before accounting makes
#: awards); accounting reads evidence-submitted that review's runs left, and is made to drain it
#: before it is timed.
ORDER = ("notifier", "issuer", "review", "accounting")
#: Why each service's handler spends its time (what the 1.6x target's "CPU-bound" is about).
BOUND = {
    "review": "I/O: a case document and a request per event",
    "accounting": "I/O: about eight MongoDB round trips per decision",
    "issuer": "CPU: an Ed25519 + RDFC-1.0 proof and a VC-JWT per credential",
    "notifier": "I/O: a claim document, an SMTP send and its record per credential",
}


def envelope(payload: Any, subject: str, tenant: str) -> Envelope[Any]:
    return Envelope.wrap(payload, source="/bench/scaling", subject=subject, tenant=tenant)


def institution_ref(tenant: str) -> InstitutionRef:
    return InstitutionRef(id=tenant, name="Demo University of Applied Sciences", country="PT")


def learner(tag: str) -> LearnerProfile:
    return LearnerProfile(name=f"Learner {tag}", email=f"learner.{tag}@example.org")


def submitted_event(tenant: str, tag: str, hours: Decimal) -> Envelope[EvidenceSubmittedV1]:
    return envelope(
        EvidenceSubmittedV1(
            evidence_id=f"ev-{tag}",
            learner_id=f"l-{tag}",
            learner=learner(tag),
            institution=institution_ref(tenant),
            competence=COMPETENCE,
            title="Workshop",
            hours=hours,
            start_date=date(2026, 1, 1),
            end_date=date(2026, 1, 31),
            provider="Open Learning Hub",
            kind="course",
            files=(
                StoredFile(
                    key=f"{tenant}/ev-{tag}/proof.pdf",
                    filename="proof.pdf",
                    content_type="application/pdf",
                    size=1024,
                    sha256="0" * 64,
                ),
            ),
            submitted_at=datetime.now(UTC),
        ),
        f"ev-{tag}",
        tenant,
    )


def reviewed_event(tenant: str, tag: str, hours: Decimal) -> Envelope[EvidenceReviewedV1]:
    return envelope(
        EvidenceReviewedV1(
            decision_id=f"d-{tag}",
            evidence_id=f"ev-{tag}",
            learner_id=f"l-{tag}",
            learner=learner(tag),
            institution=institution_ref(tenant),
            competence=COMPETENCE,
            evidence_title="Workshop",
            evidence_provider="Open Learning Hub",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 1, 31),
            decision="approved",
            claimed_hours=hours,
            approved_hours=hours,
            evaluator_id="bench-evaluator",
            decided_at=datetime.now(UTC),
        ),
        f"ev-{tag}",
        tenant,
    )


def awarded_event(tenant: str, tag: str) -> Envelope[CompetenceAwardedV1]:
    return envelope(
        CompetenceAwardedV1(
            award_id=f"award-{tag}",
            learner_id=f"l-{tag}",
            learner=learner(tag),
            institution=institution_ref(tenant),
            competence=COMPETENCE,
            hours=Decimal(90),
            ects=Decimal(3),
            evidence=(
                AwardedEvidence(
                    evidence_id=f"ev-{tag}",
                    title="Workshop",
                    provider="Open Learning Hub",
                    hours=Decimal(90),
                    start_date=date(2026, 1, 1),
                    end_date=date(2026, 1, 31),
                ),
            ),
            learning_started=date(2026, 1, 1),
            learning_ended=date(2026, 1, 31),
            awarded_at=datetime.now(UTC),
        ),
        f"award-{tag}",
        tenant,
    )


def issued_event(tenant: str, tag: str) -> Envelope[CredentialIssuedV1]:
    credential_id = f"urn:uuid:{uuid.uuid4()}"
    did = f"did:web:issuer.example.org:institutions:{tenant}"
    return envelope(
        CredentialIssuedV1(
            credential_id=credential_id,
            award_id=f"award-{tag}",
            learner_id=f"l-{tag}",
            learner=learner(tag),
            institution=institution_ref(tenant),
            achievement_title=COMPETENCE.title,
            issued_at=datetime.now(UTC),
            credential={
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "id": credential_id,
                "type": ["VerifiableCredential", "OpenBadgeCredential"],
                "issuer": {"id": did, "name": "Demo University of Applied Sciences"},
                "validFrom": "2026-11-20T10:00:00Z",
                "credentialSubject": {
                    "type": ["AchievementSubject"],
                    "achievement": {"name": COMPETENCE.title, "achievementType": "Competency"},
                },
                "proof": [{"type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022"}],
            },
            credential_jwt="eyJhbGciOiJFZERTQSJ9.eyJ2YyI6MX0.c2ln",
            verification_method=f"{did}#key-1",
        ),
        credential_id,
        tenant,
    )


@dataclass(frozen=True)
class Case:
    """One service's scaling case: what it reads, what it writes, and the events to feed it."""

    service: str
    inputs: tuple[str, ...]
    output: Callable[[str], str]  # the output topic, given the institution
    #: Events that must be consumed before the timed ones (accounting: the evidence filed).
    before: Callable[[str, str], Envelope[Any]] | None
    make: Callable[[str, str], Envelope[Any]]


HOURS = Decimal(90)  # 3 ECTS at 30 h each: one approval, one award
CASES = {
    "review": Case(
        "review",
        (topics.EVIDENCE_SUBMITTED,),
        topics.review_requests,
        None,
        lambda tenant, tag: submitted_event(tenant, tag, Decimal(30)),
    ),
    "accounting": Case(
        "accounting",
        (topics.EVIDENCE_SUBMITTED, topics.EVIDENCE_REVIEWED),
        lambda _: topics.COMPETENCE_AWARDED,
        lambda tenant, tag: submitted_event(tenant, tag, HOURS),
        lambda tenant, tag: reviewed_event(tenant, tag, HOURS),
    ),
    "issuer": Case(
        "issuer",
        (topics.COMPETENCE_AWARDED,),
        lambda _: topics.CREDENTIAL_ISSUED,
        None,
        awarded_event,
    ),
    "notifier": Case(
        "notifier",
        (topics.CREDENTIAL_ISSUED,),
        lambda _: topics.NOTIFICATION_SENT,
        None,
        issued_event,
    ),
}


# --- processes ------------------------------------------------------------------------------


def instance(servers: Servers, cfg: StackConfig, service: str, n: int) -> OwnProcess:
    """Instance ``n`` of ``service``: its own port and log file, the service's consumer group."""
    own_cfg = cfg.model_copy(update={f"{service}_port": free_port()}) if n else cfg
    process = own_service(servers, own_cfg, service, {})
    log_file = cfg.logs / f"scaling-{service}-{n + 1}.log"
    process.component = dataclasses.replace(process.component, log_file=log_file)
    return process


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (``/proc/<pid>/stat``), in seconds."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def infra_pids(cfg: StackConfig) -> dict[str, int]:
    """The stack's servers: children of the infra supervisor, by what their command runs."""
    supervisor = running_pid(cfg, "infra")
    names = {b"java": "kafka", b"secantus": "mongodb", b"weed": "s3", b"smtp": "smtp"}
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or supervisor is None:
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if f"PPid:\t{supervisor}\n" not in status:
            continue
        for needle, name in names.items():
            if needle in cmdline and name not in found:
                found[name] = int(entry.name)
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine, all cores (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return 0.0
    return 0.0


# --- Kafka ----------------------------------------------------------------------------------


@dataclass
class Outputs:
    """Output records of one institution: first time each event id was seen (its timestamp)."""

    seen: dict[str, float] = field(default_factory=dict)


async def watch(servers: Servers, topic: str, tenant: str, outputs: Outputs) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(servers.kafka),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                event = json.loads(record.value)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("tenant") == tenant:
                outputs.seen.setdefault(str(event.get("id")), record.timestamp / 1000)
    finally:
        await consumer.stop()


async def publish(servers: Servers, events: Sequence[Envelope[Any]]) -> None:
    producer = AIOKafkaProducer(
        **client_options(servers.kafka), enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        pending = [await producer.send(e.topic, e.to_bytes(), key=e.key()) for e in events]
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def grow_partitions(servers: Servers, names: Sequence[str], count: int) -> dict[str, int]:
    """Give each topic at least ``count`` partitions (the stack makes 3); their counts after."""
    admin = AIOKafkaAdminClient(**client_options(servers.kafka))
    await admin.start()
    try:
        described = await admin.describe_topics(list(names))
        short = {
            t["topic"]: NewPartitions(total_count=count)
            for t in described
            if len(t["partitions"]) < count
        }
        if short:
            await admin.create_partitions(short)
        described = await admin.describe_topics(list(names))
        return {t["topic"]: len(t["partitions"]) for t in described}
    finally:
        await admin.close()


def balanced_tags(count: int, partitions: int) -> list[str]:
    """Tags whose learner keys (``l-<tag>``) fall evenly on the partitions.

    Random keys put 30 events 14/9/7 on three partitions; the instances' shares then say more
    about the keys than about the service. Kafka's default partitioner is murmur2 of the key.
    """
    per_partition = -(-count // partitions)
    filled = [0] * partitions
    tags: list[str] = []
    while len(tags) < count:
        tag = uuid.uuid4().hex[:10]
        partition = DefaultPartitioner()(f"l-{tag}".encode(), list(range(partitions)), [])
        if filled[partition] < per_partition:
            filled[partition] += 1
            tags.append(tag)
    return tags


async def wait_for(what: str, check: Callable[[], Any], timeout: float = TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s")
        await asyncio.sleep(0.2)


def bar(done: int, total: int, width: int = 24) -> str:
    filled = round(width * done / total) if total else width
    return "[" + "#" * filled + "." * (width - filled) + "]"


# --- one run --------------------------------------------------------------------------------


async def setup_institution(
    client: PlatformClient, case: Case, tenant: str, urls: dict[str, str]
) -> None:
    """Onboard a fresh institution at intake (+ the issuer); review: external mode."""
    client.urls = {k: v for k, v in urls.items() if k in {"intake", case.service}}
    await client.onboard(
        demo_institution(tenant, EXTERNAL_REVIEW if case.service == "review" else None)
    )


async def run_case(
    servers: Servers,
    cfg: StackConfig,
    client: PlatformClient,
    case: Case,
    instances: int,
    events: int,
    partitions: int,
) -> dict[str, Any]:
    """Start ``instances`` of the service, warm up, publish ``events`` and time their output."""
    tenant = f"scale-{case.service}-{instances}-{uuid.uuid4().hex[:6]}"
    processes = [instance(servers, cfg, case.service, n) for n in range(instances)]
    urls = {"intake": cfg.service_url("intake")}
    urls[case.service] = processes[0].component.endpoint
    label = f"{case.service} x{instances}"
    async with contextlib.AsyncExitStack() as stack:
        await asyncio.gather(*(p.start() for p in processes))
        for process in processes:
            stack.push_async_callback(process.stop)
        await setup_institution(client, case, tenant, urls)
        outputs = Outputs()
        watcher = asyncio.create_task(watch(servers, case.output(tenant), tenant, outputs))
        stack.callback(watcher.cancel)
        groups = [consumer_group(f"microcred-{case.service}", topic) for topic in case.inputs]

        async def drained() -> bool:
            lags = [
                await group_lag(servers.kafka, g, [t])
                for g, t in zip(groups, case.inputs, strict=True)
            ]
            return sum(lags) == 0

        tags = [*balanced_tags(WARM_UP, partitions), *balanced_tags(events, partitions)]
        if case.before is not None:
            # Accounting: every piece of evidence filed (and any backlog read) before the timing.
            await publish(servers, [case.before(tenant, tag) for tag in tags])
            await wait_for(f"{label}: evidence filed", drained)
        await publish(servers, [case.make(tenant, tag) for tag in tags[:WARM_UP]])

        async def warm() -> bool:
            return len(outputs.seen) >= WARM_UP

        await wait_for(f"{label}: warm-up", warm)
        await wait_for(f"{label}: input drained", drained)
        measured = [case.make(tenant, tag) for tag in tags[WARM_UP:]]
        cpu_before = [cpu_seconds(p.pid) for p in processes]
        infra = infra_pids(cfg)
        infra_before = {name: cpu_seconds(pid) for name, pid in infra.items()}
        busy_before, total_before = machine_ticks()
        started = time.time()
        await publish(servers, measured)
        published = time.time() - started
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while (done := len(outputs.seen) - WARM_UP) < events:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{label}: {done} of {events} outputs after the timeout")
            print(
                f"\r  {label:<14} {bar(done, events)} {done}/{events}  "
                f"{time.time() - started:6.1f} s   ",
                end="",
            )
            sys.stdout.flush()
            await asyncio.sleep(0.25)
        times = sorted(t for t in outputs.seen.values() if t >= started)[-events:]
        wall = times[-1] - started
        cpu = [
            round(cpu_seconds(p.pid) - before, 2)
            for p, before in zip(processes, cpu_before, strict=True)
        ]
        rss = [peak_rss_mib(p.pid) for p in processes]
        busy_after, total_after = machine_ticks()
        machine_busy = (busy_after - busy_before) / max(total_after - total_before, 1)
        infra_cpu = {
            name: round((cpu_seconds(pid) - infra_before[name]) / wall, 3)
            for name, pid in infra.items()
        }
        print(f"\r  {label:<14} {bar(events, events)} {events}/{events}  {wall:6.1f} s   ")
    return {
        "instances": instances,
        "institution": tenant,
        "events": events,
        "publish_seconds": round(published, 3),
        "seconds": round(wall, 3),
        "per_second": round(events / wall, 3),
        "per_second_active": (
            round((len(times) - 1) / (times[-1] - times[0]), 3) if times[-1] > times[0] else 0.0
        ),
        "cpu_seconds_per_instance": cpu,
        "cpu_share_per_instance": [round(c / wall, 3) for c in cpu],
        "cpu_ms_per_event": round(1000 * sum(cpu) / events, 2),
        "peak_rss_mib_per_instance": rss,
        "infra_cpu_share": infra_cpu,
        #: Share of all the machine's cores busy during the run (any process: others' work too).
        "machine_busy_share": round(machine_busy, 3),
    }


# --- chart ----------------------------------------------------------------------------------


def chart(path: Path, services: dict[str, Any]) -> None:
    """Bars: events/s with 1 and 2 instances per service, the ratio above each pair."""
    width, height, margin, bottom = 900, 420, 70, 360
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((margin, 10), "events/s per service: 1 vs 2 instances in one group", fill="black")
    values = [r["per_second"] for s in services.values() for r in s["runs"]]
    y_max = max([*values, 1.0]) * 1.15
    top = 40
    draw.line((margin, top, margin, bottom), fill="black")
    draw.line((margin, bottom, width - 20, bottom), fill="black")
    for tick in range(5):
        y = bottom - (bottom - top) * tick / 4
        draw.text((8, y - 6), f"{y_max * tick / 4:.1f}", fill="black")
        draw.line((margin - 4, y, margin, y), fill="black")
    slot = (width - 20 - margin) / max(len(services), 1)
    colours = [(31, 119, 180), (255, 127, 14)]
    for n, (name, figures) in enumerate(services.items()):
        x0 = margin + slot * n + slot * 0.15
        bar_width = slot * 0.3
        for m, run in enumerate(figures["runs"]):
            x = x0 + bar_width * m
            y = bottom - (bottom - top) * run["per_second"] / y_max
            draw.rectangle((x, y, x + bar_width - 4, bottom), fill=colours[m % 2])
            draw.text((x + 2, y - 14), f"{run['per_second']:.1f}", fill="black")
        ratio = figures.get("ratio")
        draw.text((x0, bottom + 8), name, fill="black")
        if ratio is not None:
            draw.text((x0, bottom + 22), f"x{ratio:.2f}", fill="black")
    draw.text((width - 200, top), "1 instance", fill=colours[0])
    draw.text((width - 200, top + 14), "2 instances", fill=colours[1])
    image.save(path)


# --- main -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    chosen = [s for s in ORDER if s in args.services]
    services: dict[str, Any] = {}
    errors: list[str] = []
    with embedded_servers() as servers:
        cfg = servers.stack
        assert cfg is not None  # noqa: S101 - embedded mode
        await ensure_topics(servers.kafka, partitions=args.partitions)
        partitions = await grow_partitions(
            servers, sorted({t for s in chosen for t in CASES[s].inputs}), args.partitions
        )
        print(f"  stack up in {cfg.data_dir}; input partitions {partitions}")
        intake = own_service(servers, cfg, "intake", {})
        await intake.start()
        try:
            async with httpx.AsyncClient(timeout=60) as http:
                client = PlatformClient({}, http, lambda: read_messages(cfg.maildir))
                for service in chosen:
                    runs = []
                    for instances in (1, 2):
                        try:
                            runs.append(
                                await run_case(
                                    servers,
                                    cfg,
                                    client,
                                    CASES[service],
                                    instances,
                                    args.events,
                                    min(partitions.values()),
                                )
                            )
                        except (TimeoutError, RuntimeError) as failed:
                            print()
                            errors.append(f"{service} x{instances}: {failed}")
                    ratio = (
                        round(runs[1]["per_second"] / runs[0]["per_second"], 3)
                        if len(runs) == 2 and runs[0]["per_second"]  # noqa: PLR2004
                        else None
                    )
                    services[service] = {
                        "bound": BOUND[service],
                        "cpu_bound": service == "issuer",
                        "input_topics": list(CASES[service].inputs),
                        "runs": runs,
                        "ratio": ratio,
                    }
        finally:
            await intake.stop()
    cpus = os.cpu_count() or 1
    issuer = services.get("issuer", {})
    target = {
        "target": f"a second instance raises a CPU-bound service's throughput >= "
        f"{SPEEDUP_TARGET}x (where cores allow)",
        "measured": f"issuer x{issuer.get('ratio')} on {cpus} CPUs",
        "cores_allow": cpus >= 4,  # noqa: PLR2004 - two instances, Kafka, the database
        "verdict": ("PASS" if (issuer.get("ratio") or 0) >= SPEEDUP_TARGET else "FAIL"),
    }
    chart(args.chart, services)
    return {
        "benchmark": "scaling",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": cpus,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "parameters": {
            "events": args.events,
            "warm_up": WARM_UP,
            "partitions": args.partitions,
            "input_partitions": partitions,
        },
        "services": services,
        "target": target,
        "errors": errors,
        "note": args.note,
    }


def report(result: dict[str, Any]) -> None:
    print()
    print(f"{'service':<12} {'1 inst /s':>10} {'2 inst /s':>10} {'ratio':>7}  cpu share/instance")
    for name, figures in result["services"].items():
        runs = figures["runs"]
        rates = [f"{r['per_second']:>10.2f}" for r in runs] + [f"{'-':>10}"] * (2 - len(runs))
        ratio = f"{figures['ratio']:.2f}" if figures["ratio"] is not None else "-"
        shares = " | ".join(
            ", ".join(f"{s:.0%}" for s in r["cpu_share_per_instance"]) for r in runs
        )
        print(f"{name:<12} {' '.join(rates)} {ratio:>7}  {shares}  ({figures['bound']})")
        for run in runs:
            infra = ", ".join(f"{k} {v:.0%}" for k, v in sorted(run["infra_cpu_share"].items()))
            print(
                f"{'':<12} x{run['instances']}: stack CPU share {infra}; machine "
                f"{run['machine_busy_share']:.0%} busy"
            )
    target = result["target"]
    print(f"{target['verdict']}  {target['measured']}  [{target['target']}]")
    if not target["cores_allow"]:
        print(f"  note: {result['machine']['cpus']} CPUs shared by two instances and the stack")
    for error in result["errors"]:
        print(f"error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300, help="timed events per run")
    parser.add_argument(
        "--services",
        type=lambda text: [s.strip() for s in text.split(",") if s.strip()],
        default=list(ORDER),
        help="comma-separated, of: " + ", ".join(ORDER),
    )
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every topic")
    parser.add_argument("--output", type=Path, default=RESULTS / "scaling.json")
    parser.add_argument("--chart", type=Path, default=RESULTS / "scaling.png")
    parser.add_argument("--note", default="", help="free text stored in the JSON")
    args = parser.parse_args()
    unknown = [s for s in args.services if s not in ORDER]
    if unknown:
        parser.error(f"unknown services: {', '.join(unknown)}")
    if args.partitions < 2:  # noqa: PLR2004
        parser.error("two instances need at least 2 partitions to share")
    print(
        f"scaling: {args.events} events per run, services {', '.join(args.services)}, "
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
