"""The review conformance kit: whether an institution's reviewer keeps the review contract.

The kit plays the platform's part. It publishes generated review requests (random evidence ids)
on institution X's request topic, watches X's decision topic, and judges what comes back:

``schema``
    every decision answering one of the kit's requests is a valid ``ReviewDecisionV1`` envelope
    of tenant X, about the evidence and learner of the request, granting at most the hours
    claimed;
``keyed-by-learner``
    every such decision is keyed by the learner's id;
``answered-within-deadline``
    every request of X gets a decision within the deadline;
``idempotent-redelivery``
    some requests are delivered three times (twice at once, once more after the first answer,
    always the same event id): all answers to one request carry one ``decision_id`` and the
    same decision and hours;
``foreign-refused``
    requests of another institution (tenant and evidence), published on X's topic as a
    misrouted or forged record would be, get no decision at all while the kit watches.

The kit watches for ``deadline`` seconds after its first request (so that a decision on foreign
evidence has as long to appear as a correct answer has), and ``grace`` seconds more after its
last redelivery. Records on the decision topic that do not answer its own requests (a staging
institution's real traffic) are left alone.

A reviewer that needs a human, like microcred's built-in one, is driven by an
:class:`EvaluatorDriver`: :class:`ReviewApiEvaluator` decides the kit's queued items through
review's HTTP API, as an evaluator with a bearer token would (approving all hours).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from microcred_shared.contracts import Envelope, InvalidEventError, parse_event
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    InstitutionRef,
    LearnerProfile,
    ReviewDecisionV1,
    ReviewRequestedV1,
    StoredFile,
)
from microcred_shared.contracts.topics import review_decisions, review_requests
from microcred_shared.kafka import CLOUDEVENTS_CONTENT_TYPE
from microcred_shared.kafka_auth import KafkaConnection
from microcred_shared.settings import ServiceSettings

SOURCE = "/microcred/conformance-kit/review"
#: Hours the generated requests claim, in turn: whole, half and quarter hours.
CLAIMED_HOURS = ("30", "12.5", "7.25", "45", "3", "60.5")
#: How many problems a check lists before it only counts them.
MAX_PROBLEMS = 20

RequestKind = Literal["own", "redelivered", "foreign"]


class ConformanceError(RuntimeError):
    """The kit could not run (Kafka unreachable, topics missing, evaluator refused)."""


class KitSettings(ServiceSettings):
    """How the kit connects to Kafka: ``MICROCRED_CONFORMANCE_KAFKA_*``, then ``MICROCRED_KAFKA_*``.

    Only the ``kafka_*`` fields matter. The kit publishes requests and reads decisions as the
    platform does, so the principal must be allowed to WRITE the institution's request topic and
    READ its decision topic (it joins no consumer group).
    """

    model_config = SettingsConfigDict(
        env_prefix="MICROCRED_CONFORMANCE_", extra="ignore", frozen=True
    )

    service_name: str = "conformance-kit"


def kafka_client_options(settings: ServiceSettings) -> dict[str, Any]:
    """Keyword arguments connecting an aiokafka client as ``settings`` say."""
    return {
        **KafkaConnection.from_settings(settings).aiokafka_options(),
        "client_id": f"microcred-{settings.service_name}",
    }


@dataclass(frozen=True)
class KitOptions:
    """What the kit sends, and how long it waits."""

    institution_id: str
    #: Seconds each request may wait for its decision; also how long foreign requests must stay
    #: unanswered.
    deadline: float = 30.0
    #: Seconds the kit keeps watching after its last redelivery, for a second answer.
    grace: float = 5.0
    #: Requests of the institution, redelivered ones included.
    requests: int = 6
    #: How many of them are delivered three times.
    redelivered: int = 2
    #: Requests of another institution, published on the institution's topic.
    foreign: int = 2
    #: The other institution; default ``not-<institution>``.
    foreign_institution: str | None = None
    #: Providers the requests name, in turn (to exercise a reviewer's rules).
    providers: tuple[str, ...] = ("Conformance Kit Academy",)
    competence_id: str = "conformance-kit"

    def __post_init__(self) -> None:
        if self.requests < 1 or self.foreign < 1 or self.redelivered < 1:
            raise ValueError("requests, redelivered and foreign must each be at least 1")
        if self.redelivered > self.requests:
            raise ValueError("redelivered requests are some of the requests: at most requests")
        if self.deadline <= 0 or self.grace < 0:
            raise ValueError("deadline must be positive and grace not negative")
        if not self.providers:
            raise ValueError("name at least one provider")
        if self.other_institution == self.institution_id:
            raise ValueError("the foreign institution must differ from the institution")

    @property
    def other_institution(self) -> str:
        return self.foreign_institution or f"not-{self.institution_id}"[:64]


@dataclass(frozen=True)
class PlannedRequest:
    """One request the kit publishes, and what it is there to find out."""

    envelope: Envelope[ReviewRequestedV1]
    kind: RequestKind

    @property
    def evidence_id(self) -> str:
        return self.envelope.data.evidence_id

    @property
    def learner_id(self) -> str:
        return self.envelope.data.learner_id

    @property
    def own(self) -> bool:
        return self.kind != "foreign"


def _request(
    institution_id: str, n: int, provider: str, competence_id: str, now: datetime
) -> Envelope[ReviewRequestedV1]:
    suffix = uuid.uuid4().hex[:16]
    evidence_id = f"conformance-{suffix}"
    start = now.date() - timedelta(days=60)
    payload = ReviewRequestedV1(
        evidence_id=evidence_id,
        learner_id=f"conformance-learner-{suffix}",
        learner=LearnerProfile(
            name=f"Conformance Learner {n}", email=f"conformance.{suffix}@example.org"
        ),
        institution=InstitutionRef(
            id=institution_id, name=f"{institution_id} (conformance check)", country="EU"
        ),
        competence=CompetenceSnapshot(id=competence_id, title="Conformance check competence"),
        title=f"Conformance check {n}",
        hours=Decimal(CLAIMED_HOURS[n % len(CLAIMED_HOURS)]),
        start_date=start,
        end_date=start + timedelta(days=10),
        provider=provider,
        kind="course",
        description="Generated by microcred's review conformance kit; no learner filed it.",
        files=(
            StoredFile(
                key=f"conformance/{evidence_id}/certificate.pdf",
                filename="certificate.pdf",
                content_type="application/pdf",
                size=1024,
                sha256=hashlib.sha256(evidence_id.encode()).hexdigest(),
            ),
        ),
        submitted_at=now,
        requested_at=now,
    )
    return Envelope.wrap(
        payload, source=SOURCE, subject=evidence_id, tenant=institution_id, time=now
    )


def plan_requests(options: KitOptions, now: datetime | None = None) -> list[PlannedRequest]:
    """The requests of one run: foreign ones first, then the institution's own."""
    now = now or datetime.now(UTC)
    providers = options.providers
    planned = [
        PlannedRequest(
            _request(
                options.other_institution,
                n,
                providers[n % len(providers)],
                options.competence_id,
                now,
            ),
            "foreign",
        )
        for n in range(options.foreign)
    ]
    for n in range(options.requests):
        kind: RequestKind = "redelivered" if n < options.redelivered else "own"
        envelope = _request(
            options.institution_id, n, providers[n % len(providers)], options.competence_id, now
        )
        planned.append(PlannedRequest(envelope, kind))
    return planned


@dataclass(frozen=True)
class Answer:
    """A record on the decision topic that answers one of the kit's requests."""

    evidence_id: str
    key: bytes | None
    value: bytes
    #: Seconds between the request's first publication and the record's arrival.
    after: float
    partition: int
    offset: int


def answered_request(
    key: bytes | None, value: bytes, evidence_ids: Collection[str], learners: dict[str, str]
) -> str | None:
    """The evidence id of the kit's request a decision record answers, or None.

    By the record's ``data.evidence_id`` when it has one of the kit's, otherwise by its key
    (every generated request has a learner of its own), so that even a record that is not a
    valid event is judged when it answers the kit.
    """
    with contextlib.suppress(UnicodeDecodeError, json.JSONDecodeError):
        document = json.loads(value)
        data = document.get("data") if isinstance(document, dict) else None
        evidence_id = data.get("evidence_id") if isinstance(data, dict) else None
        if isinstance(evidence_id, str) and evidence_id in evidence_ids:
            return evidence_id
    if key is None:
        return None
    return learners.get(key.decode(errors="replace"))


class CheckResult(BaseModel):
    name: str
    passed: bool
    summary: str
    problems: list[str] = Field(default_factory=list)


class ConformanceReport(BaseModel):
    """What the kit sent, what came back, and each check's verdict."""

    institution_id: str
    requests_topic: str
    decisions_topic: str
    foreign_institution: str
    started_at: datetime
    duration_seconds: float
    deadline_seconds: float
    requests: int
    redelivered: int
    foreign: int
    answers: int
    review_mode: str | None = Field(
        default=None, description="The institution's review mode, when an evaluator drove it."
    )
    checks: list[CheckResult]
    passed: bool


def _limited(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    return [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more"]


def _check(name: str, summary: str, problems: list[str], passed: bool | None = None) -> CheckResult:
    return CheckResult(
        name=name,
        passed=not problems if passed is None else passed,
        summary=summary,
        problems=_limited(problems),
    )


def _parsed(
    answers: Sequence[Answer],
) -> tuple[list[tuple[Answer, Envelope[ReviewDecisionV1]]], dict[Answer, str]]:
    valid, invalid = [], {}
    for answer in answers:
        try:
            valid.append((answer, parse_event(answer.value, ReviewDecisionV1)))
        except InvalidEventError as error:
            invalid[answer] = error.reason
    return valid, invalid


def check_schema(
    institution_id: str, requests: dict[str, PlannedRequest], answers: Sequence[Answer]
) -> CheckResult:
    valid, invalid = _parsed(answers)
    problems = [
        f"{a.evidence_id} (partition {a.partition}, offset {a.offset}): {reason}"
        for a, reason in invalid.items()
    ]
    for answer, envelope in valid:
        request = requests[answer.evidence_id].envelope.data
        decision = envelope.data
        where = f"{answer.evidence_id} (offset {answer.offset})"
        if envelope.tenant != institution_id:
            problems.append(f"{where}: tenant {envelope.tenant!r}, not {institution_id!r}")
        if decision.evidence_id != request.evidence_id:
            problems.append(f"{where}: evidence_id {decision.evidence_id!r}")
        if decision.learner_id != request.learner_id:
            problems.append(
                f"{where}: learner_id {decision.learner_id!r}, not {request.learner_id!r}"
            )
        if decision.approved_hours > request.hours:
            problems.append(
                f"{where}: approves {decision.approved_hours} h of the {request.hours} h claimed"
            )
    if not answers:
        return _check("schema", "no decision arrived: nothing to check", [], passed=False)
    summary = (
        f"{len(answers)} decisions are valid ReviewDecisionV1 envelopes of {institution_id}"
        if not problems
        else f"{len(problems)} problems in {len(answers)} decisions"
    )
    return _check("schema", summary, problems)


def check_keys(requests: dict[str, PlannedRequest], answers: Sequence[Answer]) -> CheckResult:
    problems = [
        f"{a.evidence_id} (offset {a.offset}): key {a.key!r}, not the learner id "
        f"{requests[a.evidence_id].learner_id!r}"
        for a in answers
        if a.key != requests[a.evidence_id].learner_id.encode()
    ]
    if not answers:
        return _check("keyed-by-learner", "no decision arrived: nothing to check", [], passed=False)
    summary = (
        f"{len(answers)} decisions keyed by their learner's id"
        if not problems
        else f"{len(problems)} of {len(answers)} decisions keyed otherwise"
    )
    return _check("keyed-by-learner", summary, problems)


def check_deadline(
    own: Sequence[PlannedRequest], answers: Sequence[Answer], deadline: float
) -> CheckResult:
    first: dict[str, float] = {}
    for answer in answers:
        first[answer.evidence_id] = min(answer.after, first.get(answer.evidence_id, answer.after))
    problems = []
    for request in own:
        waited = first.get(request.evidence_id)
        if waited is None:
            problems.append(f"{request.evidence_id}: no decision within {deadline:g}s")
        elif waited > deadline:
            problems.append(f"{request.evidence_id}: decided after {waited:.1f}s")
    answered = len(own) - len(problems)
    slowest = f"; slowest {max(first.values()):.1f}s" if first else ""
    summary = f"{answered}/{len(own)} requests decided within {deadline:g}s{slowest}"
    return _check("answered-within-deadline", summary, problems)


def check_idempotency(
    own: Sequence[PlannedRequest], answers: Sequence[Answer], deliveries: int
) -> CheckResult:
    valid, _ = _parsed(answers)
    by_request: dict[str, list[ReviewDecisionV1]] = {}
    for answer, envelope in valid:
        by_request.setdefault(answer.evidence_id, []).append(envelope.data)
    problems = []
    for request in own:
        decisions = by_request.get(request.evidence_id, [])
        ids = sorted({d.decision_id for d in decisions})
        verdicts = sorted({f"{d.decision} {d.approved_hours} h" for d in decisions})
        if len(ids) > 1:
            problems.append(
                f"{request.evidence_id}: {len(decisions)} answers with {len(ids)} decision ids "
                f"({', '.join(ids)})"
            )
        if len(verdicts) > 1:
            problems.append(f"{request.evidence_id}: different decisions ({'; '.join(verdicts)})")
    redelivered = [r for r in own if r.kind == "redelivered"]
    judged = [r for r in redelivered if by_request.get(r.evidence_id)]
    repeats = sum(len(by_request.get(r.evidence_id, [])) for r in redelivered)
    if not judged:
        return _check(
            "idempotent-redelivery",
            f"no redelivered request was answered ({len(redelivered)} sent {deliveries} times)",
            problems,
            passed=False,
        )
    summary = (
        f"{len(judged)} requests delivered {deliveries} times got {repeats} answers, one "
        "decision id each"
        if not problems
        else f"{len(problems)} problems"
    )
    return _check("idempotent-redelivery", summary, problems)


def check_foreign(
    foreign: Sequence[PlannedRequest], answers: Sequence[Answer], watched: float, other: str
) -> CheckResult:
    problems = [
        f"{a.evidence_id} of {other} decided after {a.after:.1f}s (offset {a.offset})"
        for a in answers
    ]
    summary = (
        f"{len(foreign)} requests of {other} on the topic stayed unanswered for {watched:.0f}s"
        if not problems
        else f"{len(problems)} decisions on {other}'s evidence"
    )
    return _check("foreign-refused", summary, problems)


#: Each redelivered request is published twice at once and once more after its first answer.
DELIVERIES_OF_REDELIVERED = 3


def evaluate(
    options: KitOptions,
    planned: Sequence[PlannedRequest],
    answers: Sequence[Answer],
    watched: float,
) -> list[CheckResult]:
    """Every check's verdict on what came back (pure: the runner's I/O is done)."""
    requests = {r.evidence_id: r for r in planned}
    own = [r for r in planned if r.own]
    own_answers = [a for a in answers if requests[a.evidence_id].own]
    foreign_answers = [a for a in answers if not requests[a.evidence_id].own]
    return [
        check_schema(options.institution_id, requests, own_answers),
        check_keys(requests, own_answers),
        check_deadline(own, own_answers, options.deadline),
        check_idempotency(own, own_answers, DELIVERIES_OF_REDELIVERED),
        check_foreign(
            [r for r in planned if not r.own],
            foreign_answers,
            watched,
            options.other_institution,
        ),
    ]


class EvaluatorDriver(Protocol):
    """Decides the kit's requests where a human reviewer would (the built-in reviewer)."""

    async def prepare(self, institution_id: str) -> str | None:
        """Check access before anything is published; return the review mode if known."""
        ...

    async def decide(
        self, institution_id: str, evidence_ids: Collection[str], competence_id: str
    ) -> None:
        """Decide each of ``evidence_ids`` once it is queued; runs until cancelled or done."""
        ...


@dataclass
class ReviewApiEvaluator:
    """An evaluator deciding through review's HTTP API: claim, then approve all hours."""

    review_url: str
    token: str
    poll_interval: float = 0.5
    #: Evidence ids decided so far.
    decided: set[str] = field(default_factory=set)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.review_url.rstrip("/"),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=15,
        )

    @staticmethod
    def _refused(response: httpx.Response) -> None:
        if response.status_code in {401, 403}:
            raise ConformanceError(
                f"review refused the evaluator ({response.status_code}): {response.text[:300]}"
            )

    async def prepare(self, institution_id: str) -> str | None:
        async with self._client() as http:
            try:
                response = await http.get(f"/institutions/{institution_id}/review-settings")
            except httpx.HTTPError as exc:
                raise ConformanceError(f"cannot reach review at {self.review_url}: {exc}") from exc
        self._refused(response)
        if response.is_error:
            raise ConformanceError(
                f"review answered {response.status_code} for the review settings: "
                f"{response.text[:300]}"
            )
        mode = response.json().get("mode")
        return mode if isinstance(mode, str) else None

    async def decide(
        self, institution_id: str, evidence_ids: Collection[str], competence_id: str
    ) -> None:
        wanted = set(evidence_ids)
        queue = f"/institutions/{institution_id}/queue"
        async with self._client() as http:
            while wanted - self.decided:
                try:
                    listing = await http.get(
                        queue, params={"competence": competence_id, "limit": 500}
                    )
                    self._refused(listing)
                    listing.raise_for_status()
                    for item in listing.json():
                        evidence_id = item.get("evidence_id")
                        if evidence_id in wanted and evidence_id not in self.decided:
                            await self._approve(http, f"{queue}/{evidence_id}")
                            self.decided.add(evidence_id)
                except httpx.HTTPError:
                    pass  # review restarting or slow: the next round tries again
                await asyncio.sleep(self.poll_interval)

    async def _approve(self, http: httpx.AsyncClient, item: str) -> None:
        claim = await http.post(f"{item}/claim")
        self._refused(claim)
        decision = await http.post(f"{item}/decision", json={"decision": "approve"})
        self._refused(decision)
        if decision.status_code == 409:  # noqa: PLR2004 - decided already: nothing to do
            return
        decision.raise_for_status()


async def log_in_evaluator(intake_url: str, email: str, password: str) -> str:
    """Log in at intake as an evaluator; the bearer token review takes."""
    async with httpx.AsyncClient(base_url=intake_url.rstrip("/"), timeout=15) as http:
        try:
            response = await http.post("/auth/token", json={"email": email, "password": password})
        except httpx.HTTPError as exc:
            raise ConformanceError(f"cannot reach intake at {intake_url}: {exc}") from exc
    if response.is_error:
        raise ConformanceError(
            f"intake refused the evaluator's login ({response.status_code}): {response.text[:300]}"
        )
    token = response.json().get("access_token")
    if not isinstance(token, str):
        raise ConformanceError("intake's answer carries no access token")
    return token


@dataclass
class _Run:
    """One run's Kafka clients and bookkeeping."""

    options: KitOptions
    planned: list[PlannedRequest]
    producer: AIOKafkaProducer
    consumer: AIOKafkaConsumer
    published_at: dict[str, float] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    last_redelivery: float = 0.0

    @property
    def requests_topic(self) -> str:
        return review_requests(self.options.institution_id)

    @property
    def decisions_topic(self) -> str:
        return review_decisions(self.options.institution_id)

    async def start_watching(self) -> None:
        """Assign every partition of the decision topic, from its current end."""
        available = await self.consumer.topics()
        missing = [t for t in (self.requests_topic, self.decisions_topic) if t not in available]
        if missing:
            raise ConformanceError(
                f"no topic {', '.join(missing)} (or not visible to this principal): set the "
                f"institution's review mode first (PUT /institutions/"
                f"{self.options.institution_id}/review-settings), which creates them"
            )
        # The producer's metadata call waits for the topic's partitions (the consumer's does not).
        partitions = await self.producer.partitions_for(self.decisions_topic)
        assigned = [TopicPartition(self.decisions_topic, p) for p in sorted(partitions)]
        self.consumer.assign(assigned)
        for partition, end in (await self.consumer.end_offsets(assigned)).items():
            self.consumer.seek(partition, end)

    async def publish(self, request: PlannedRequest) -> None:
        envelope = request.envelope
        await self.producer.send_and_wait(
            self.requests_topic,
            envelope.to_bytes(),
            key=envelope.key(),
            headers=[
                ("content-type", CLOUDEVENTS_CONTENT_TYPE.encode()),
                ("ce_id", envelope.id.encode()),
            ],
        )
        self.published_at.setdefault(request.evidence_id, time.monotonic())

    async def publish_all(self) -> None:
        for request in self.planned:
            await self.publish(request)
            if request.kind == "redelivered":
                await self.publish(request)  # the same record again: a redelivery

    async def watch(self, driver_task: asyncio.Task[None] | None) -> float:
        """Collect answers until the deadline (and grace); return how long it watched."""
        requests = {r.evidence_id: r for r in self.planned}
        learners = {r.learner_id: r.evidence_id for r in self.planned}
        answered: set[str] = set()
        began = min(self.published_at.values())
        while True:
            now = time.monotonic()
            end = max(began + self.options.deadline, self.last_redelivery + self.options.grace)
            if now >= end:
                return now - began
            if driver_task is not None and driver_task.done():
                failure = driver_task.exception()
                if failure is not None:
                    raise failure
            batches = await self.consumer.getmany(timeout_ms=int(min(200, (end - now) * 1000) + 1))
            for records in batches.values():
                for record in records:
                    value = record.value or b""
                    evidence_id = answered_request(record.key, value, requests, learners)
                    if evidence_id is None:
                        continue
                    arrived = time.monotonic()
                    self.answers.append(
                        Answer(
                            evidence_id=evidence_id,
                            key=record.key,
                            value=value,
                            after=arrived - self.published_at[evidence_id],
                            partition=record.partition,
                            offset=record.offset,
                        )
                    )
                    request = requests[evidence_id]
                    if request.kind == "redelivered" and evidence_id not in answered:
                        # Delivered again after it was answered, as after a consumer's crash.
                        await self.publish(request)
                        self.last_redelivery = time.monotonic()
                    answered.add(evidence_id)


async def run_review_conformance(
    settings: ServiceSettings,
    options: KitOptions,
    driver: EvaluatorDriver | None = None,
) -> ConformanceReport:
    """Run the kit against the reviewer of ``options.institution_id``.

    A failed check does not raise (the report says); ``ConformanceError`` means the kit could not
    run at all.
    """
    started_at = datetime.now(UTC)
    review_mode = await driver.prepare(options.institution_id) if driver is not None else None
    planned = plan_requests(options)
    client = kafka_client_options(settings)
    run = _Run(
        options,
        planned,
        AIOKafkaProducer(**client, enable_idempotence=True, acks="all", request_timeout_ms=15_000),
        AIOKafkaConsumer(**client, group_id=None, enable_auto_commit=False),
    )
    driver_task: asyncio.Task[None] | None = None
    try:
        try:
            await run.producer.start()
            await run.consumer.start()
            await run.start_watching()
            await run.publish_all()
            if driver is not None:
                driver_task = asyncio.create_task(
                    driver.decide(
                        options.institution_id,
                        [r.evidence_id for r in planned],
                        options.competence_id,
                    )
                )
            watched = await run.watch(driver_task)
        except KafkaError as exc:
            raise ConformanceError(
                f"Kafka at {settings.kafka_bootstrap_servers}: {type(exc).__name__}: {exc}"
            ) from exc
    finally:
        if driver_task is not None:
            driver_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await driver_task
        await run.consumer.stop()
        await run.producer.stop()
    checks = evaluate(options, planned, run.answers, watched)
    return ConformanceReport(
        institution_id=options.institution_id,
        requests_topic=run.requests_topic,
        decisions_topic=run.decisions_topic,
        foreign_institution=options.other_institution,
        started_at=started_at,
        duration_seconds=round((datetime.now(UTC) - started_at).total_seconds(), 2),
        deadline_seconds=options.deadline,
        requests=options.requests,
        redelivered=options.redelivered,
        foreign=options.foreign,
        answers=len(run.answers),
        review_mode=review_mode,
        checks=checks,
        passed=all(c.passed for c in checks),
    )


def render_report(report: ConformanceReport) -> str:
    """The report as a table, for people."""
    mode = f"; review mode {report.review_mode}" if report.review_mode else ""
    lines = [
        (
            f"review conformance of {report.institution_id}: requests on "
            f"{report.requests_topic}, decisions on {report.decisions_topic}"
        ),
        (
            f"  {report.requests} requests ({report.redelivered} redelivered), {report.foreign} "
            f"of {report.foreign_institution}; deadline {report.deadline_seconds:g}s; "
            f"{report.answers} answers in {report.duration_seconds:.1f}s{mode}"
        ),
        "",
    ]
    width = max(len(c.name) for c in report.checks)
    lines.append(f"  {'check'.ljust(width)}  result  detail")
    for check in report.checks:
        verdict = "pass" if check.passed else "FAIL"
        lines.append(f"  {check.name.ljust(width)}  {verdict:<6}  {check.summary}")
        lines.extend(f"  {''.ljust(width)}          - {problem}" for problem in check.problems)
    failed = [c.name for c in report.checks if not c.passed]
    lines.append("")
    lines.append(
        f"all {len(report.checks)} checks passed"
        if not failed
        else f"{len(failed)} of {len(report.checks)} checks failed: {', '.join(failed)}"
    )
    return "\n".join(lines)
