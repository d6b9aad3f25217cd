"""A 10,000-decision run through the real Kafka into accounting, checked to the last quarter hour.

The target (from the issue): *the ledger of a 10,000-decision run with 20% duplicates equals the
expected totals exactly.* The run starts the embedded stack on free ports, then two accounting
instances in one consumer group (in this process), files the evidence, and publishes the
decisions: 8,000 distinct ones (approvals, rejections, and reversals of some approvals, shuffled
so that a reversal may come before its approval) and 2,000 copies of them (redelivery), keyed by
learner as review publishes them. When both instances have committed every record it compares:

- the ledger: one entry per distinct approval and reversal;
- every learner's balance per competence (the sum of standing approvals), and their total;
- the awards: each learner and competence over its threshold holds exactly one active award, and
  the awards granted and revoked match a reference model replaying each learner's decisions in
  the order they were published (one learner's decisions share a partition);
- the institution report's total of hours approved.

    .venv/bin/python bench/ledger_run.py                 # from the repository root
    .venv/bin/python bench/ledger_run.py --decisions 2000 --seed 7

Prints progress, the figures and PASS or FAIL; exits 1 on FAIL. Writes the latest result to
``bench/results/ledger_run.json``.
"""

# A script run by path, not a package to import; it reports on stdout.
# ruff: noqa: INP001, T201

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from microcred_accounting.bootstrap import build_app
from microcred_accounting.handlers import Accounting
from microcred_accounting.reports import ReadSide
from microcred_accounting.settings import AccountingSettings
from microcred_shared.contracts import Envelope, topics
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    EvidenceReviewedV1,
    InstitutionRef,
    LearnerProfile,
)
from microcred_shared.logging import configure_logging
from microcred_shared.service import consumer_group
from microcred_shared.stack.components import ensure_topics
from microcred_shared.testing.apps import running, service_env
from microcred_shared.testing.kafka import client_options, group_lag
from microcred_shared.testing.samples import submitted
from microcred_shared.testing.servers import embedded_servers

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT = BENCH_DIR / "results" / "ledger_run.json"
LEARNERS = 200
COMPETENCES = tuple(CompetenceSnapshot(id=f"c-{n}", title=f"Competence {n}") for n in range(3))
DUPLICATE_SHARE = 0.2
REJECTED_SHARE = 0.15
REVERSED_SHARE = 0.075  # of all evidence: reversals are a twelfth or so of the decisions
CATCH_UP_TIMEOUT_SECONDS = 900.0


@dataclass(frozen=True)
class Evidence:
    evidence_id: str
    learner_id: str
    competence: CompetenceSnapshot
    hours: Decimal


@dataclass
class Model:
    """The reference: balances and award transitions replayed decision by decision."""

    approved: dict[str, Evidence] = field(default_factory=dict)
    reversed_ids: set[str] = field(default_factory=set)
    active: set[tuple[str, str]] = field(default_factory=set)
    grants: int = 0
    revocations: int = 0

    def balance(self, learner_id: str, competence_id: str) -> Decimal:
        return sum(
            (
                e.hours
                for e in self.approved.values()
                if e.learner_id == learner_id
                and e.competence.id == competence_id
                and e.evidence_id not in self.reversed_ids
            ),
            Decimal(0),
        )

    def step(self, evidence: Evidence, decision: str) -> None:
        if decision == "approved":
            self.approved[evidence.evidence_id] = evidence
        elif decision == "reversed":
            self.reversed_ids.add(evidence.evidence_id)
        key = (evidence.learner_id, evidence.competence.id)
        threshold = evidence.competence.hours_per_ects * evidence.competence.ects_required
        over = self.balance(*key) >= threshold
        if over and key not in self.active:
            self.active.add(key)
            self.grants += 1
        elif not over and key in self.active:
            self.active.discard(key)
            self.revocations += 1


def plan(
    rng: random.Random, tenant: str, total: int
) -> tuple[list[Evidence], list[tuple[Evidence, str]], list[tuple[Evidence, str]]]:
    """The evidence, the distinct decisions, and the sequence as published (with copies)."""
    distinct = round(total * (1 - DUPLICATE_SHARE))
    pieces = round(distinct / (1 + REVERSED_SHARE))
    learners = [f"{tenant}-learner-{n}" for n in range(LEARNERS)]
    evidence = [
        Evidence(
            f"{tenant}-e{n}",
            rng.choice(learners),
            rng.choice(COMPETENCES),
            Decimal(rng.randint(4, 160)) / 4,  # 1 to 40 hours in quarter hours
        )
        for n in range(pieces)
    ]
    decisions = [(e, "rejected" if rng.random() < REJECTED_SHARE else "approved") for e in evidence]
    approved = [e for e, kind in decisions if kind == "approved"]
    decisions += [(e, "reversed") for e in rng.sample(approved, distinct - len(decisions))]
    rng.shuffle(decisions)  # some reversals before their approvals
    copies = [rng.choice(decisions) for _ in range(total - len(decisions))]
    sequence = decisions + copies
    rng.shuffle(sequence)
    return evidence, decisions, sequence


def decision_event(tenant: str, evidence: Evidence, decision: str) -> Envelope[EvidenceReviewedV1]:
    hours = evidence.hours if decision == "approved" else Decimal(0)
    return Envelope.wrap(
        EvidenceReviewedV1(
            decision_id=f"{evidence.evidence_id}-{decision}",
            evidence_id=evidence.evidence_id,
            learner_id=evidence.learner_id,
            learner=LearnerProfile(name="Bench Learner", email="bench@example.org"),
            institution=InstitutionRef(id=tenant, name="Bench", country="PT"),
            competence=evidence.competence,
            evidence_title="Course",
            evidence_provider="Provider",
            start_date=date(2026, 1, 1),
            end_date=date(2026, 1, 31),
            decision=decision,  # type: ignore[arg-type]
            claimed_hours=evidence.hours,
            approved_hours=hours,
            reason="" if decision == "approved" else "bench",
            evaluator_id="bench-evaluator",
            decided_at=datetime.now(UTC),
        ),
        source="/bench",
        subject=evidence.evidence_id,
        tenant=tenant,
        # A copy is the same event: review's outbox would publish it with the same id.
        event_id=f"{evidence.evidence_id}-{decision}",
    )


async def publish(kafka: Any, envelopes: Sequence[Envelope[Any]], label: str) -> float:
    """Publish in order (per key), without waiting on each record; return the seconds taken."""
    producer = AIOKafkaProducer(
        **client_options(kafka), enable_idempotence=True, acks="all", linger_ms=5
    )
    await producer.start()
    started = time.monotonic()
    try:
        pending = []
        for n, envelope in enumerate(envelopes, 1):
            pending.append(
                await producer.send(envelope.topic, envelope.to_bytes(), key=envelope.key())
            )
            if n % 1000 == 0 or n == len(envelopes):
                await asyncio.gather(*pending)
                pending.clear()
                progress(label, n, len(envelopes))
    finally:
        await producer.stop()
    print()
    return time.monotonic() - started


def progress(label: str, done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    print(f"\r  {label:<28} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="")
    sys.stdout.flush()


async def wait_until(
    label: str, measure: Callable[[], Awaitable[tuple[int, int]]], timeout: float
) -> None:
    """Poll ``measure`` (done, total) until done == total, showing progress."""
    deadline = time.monotonic() + timeout
    while True:
        done, total = await measure()
        progress(label, done, total)
        if done >= total:
            print()
            return
        if time.monotonic() > deadline:
            print()
            raise TimeoutError(f"{label}: {done} of {total} after {timeout:.0f} s")
        await asyncio.sleep(0.5)


async def run(total: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible run, not a secret
    tenant = f"bench-{uuid.uuid4().hex[:8]}"
    evidence, decisions, sequence = plan(rng, tenant, total)
    with embedded_servers() as servers:
        await ensure_topics(servers.kafka, partitions=3)
        settings = AccountingSettings(**service_env(servers, "accounting"))  # type: ignore[arg-type]
        first, second = build_app(settings), build_app(settings)
        async with running(first), running(second):
            accounting: Accounting = first.state.accounting
            await publish(
                servers.kafka,
                [
                    submitted(tenant, e.learner_id, e.evidence_id, e.hours, e.competence)
                    for e in evidence
                ],
                "evidence filed",
            )

            async def filed() -> tuple[int, int]:
                count = await accounting.evidence.count_documents({"institution_id": tenant})
                return count, len(evidence)

            await wait_until("evidence seen by accounting", filed, CATCH_UP_TIMEOUT_SECONDS)
            started = time.monotonic()
            await publish(
                servers.kafka,
                [decision_event(tenant, e, kind) for e, kind in sequence],
                "decisions published",
            )
            group = consumer_group(settings.consumer_group, topics.EVIDENCE_REVIEWED)

            async def consumed() -> tuple[int, int]:
                lag = await group_lag(servers.kafka, group, [topics.EVIDENCE_REVIEWED])
                return len(sequence) - min(lag, len(sequence)), len(sequence)

            await wait_until("decisions consumed", consumed, CATCH_UP_TIMEOUT_SECONDS)
            elapsed = time.monotonic() - started
            return await compare(accounting, tenant, evidence, decisions, sequence, elapsed)


async def compare(
    accounting: Accounting,
    tenant: str,
    evidence: list[Evidence],
    decisions: list[tuple[Evidence, str]],
    sequence: list[tuple[Evidence, str]],
    elapsed: float,
) -> dict[str, Any]:
    model = Model()
    for piece, kind in sequence:  # one learner's decisions stay in this order on their partition
        model.step(piece, kind)
    read_side = ReadSide(accounting)
    learners = sorted({e.learner_id for e in evidence})
    mismatches: list[str] = []
    ledger_total = Decimal(0)
    for learner in learners:
        shown = {
            c["competence_id"]: c
            for c in (await read_side.progress(tenant, learner))["competences"]
        }
        for competence in COMPETENCES:
            expected = model.balance(learner, competence.id)
            row = shown.get(competence.id, {"hours": "0", "status": "in_progress"})
            ledger_total += Decimal(row["hours"])
            if Decimal(row["hours"]) != expected:
                mismatches.append(f"{learner}/{competence.id}: {row['hours']} h, not {expected}")
            if (row["status"] == "awarded") != ((learner, competence.id) in model.active):
                mismatches.append(f"{learner}/{competence.id}: award {row['status']}")
    expected_entries = sum(1 for _, kind in decisions if kind in ("approved", "reversed"))
    entries = await accounting.ledger.count_documents({"institution_id": tenant})
    granted = await accounting.awards.count_documents({"institution_id": tenant})
    revoked = await accounting.awards.count_documents(
        {"institution_id": tenant, "status": "revoked"}
    )
    report = await read_side.report(tenant, months=1)
    expected_total = sum(
        (model.balance(learner, c.id) for learner in learners for c in COMPETENCES), Decimal(0)
    )
    checks = {
        "ledger entries": (entries, expected_entries),
        "hours in every balance": (str(ledger_total), str(expected_total)),
        "hours in the report": (report["totals"]["hours_approved"], str(expected_total)),
        "awards granted": (granted, model.grants),
        "awards revoked": (revoked, model.revocations),
        "active awards": (granted - revoked, len(model.active)),
    }
    mismatches += [
        f"{name}: {got}, expected {want}" for name, (got, want) in checks.items() if got != want
    ]
    return {
        "decisions_published": len(sequence),
        "distinct_decisions": len(decisions),
        "duplicates": len(sequence) - len(decisions),
        "evidence": len(evidence),
        "learners": len(learners),
        "reversals": sum(1 for _, kind in decisions if kind == "reversed"),
        "checks": {
            name: {"got": str(got), "expected": str(want)} for name, (got, want) in checks.items()
        },
        "mismatches": mismatches[:50],
        "seconds_to_consume": round(elapsed, 1),
        "decisions_per_second": round(len(sequence) / elapsed, 1),
        "passed": not mismatches,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    arguments = parser.parse_args()
    # Every duplicate ignored is logged at info: ten thousand lines would hide the figures.
    configure_logging("bench", "WARNING", "console")
    print(f"ledger run: {arguments.decisions} decisions, {DUPLICATE_SHARE:.0%} of them copies")
    result = asyncio.run(run(arguments.decisions, arguments.seed))
    result |= {
        "seed": arguments.seed,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
    }
    for name, check in result["checks"].items():
        mark = "ok " if check["got"] == check["expected"] else "BAD"
        print(f"  {mark} {name:<24} {check['got']:>12}  (expected {check['expected']})")
    print(
        f"  {result['decisions_published']} decisions ({result['duplicates']} copies, "
        f"{result['reversals']} reversals) consumed in {result['seconds_to_consume']} s "
        f"({result['decisions_per_second']}/s) by two accounting instances"
    )
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(result, indent=2) + "\n")
    for mismatch in result["mismatches"]:
        print(f"  mismatch: {mismatch}")
    print("PASS" if result["passed"] else "FAIL")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
