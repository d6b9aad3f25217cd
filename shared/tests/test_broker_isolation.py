"""The broker itself keeps institutions apart: SASL/SCRAM principals and ACLs on the real Kafka.

Two institutions' external reviewers are provisioned as an operator would. Each may read its own
requests and write its own decisions (positive controls: the refusals below are not a broker
that refuses everything); the other institution's topics, the platform's shared topics and other
consumer groups are refused by the broker, each with its specific error. The platform's
principal can do what the services do, and no more than its prefixes allow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)

from microcred_shared.contracts import topics
from microcred_shared.contracts.topics import (
    dead_letter,
    institution_review_topics,
    review_decisions,
    review_requests,
)
from microcred_shared.kafka_admin import (
    KafkaAdmin,
    KafkaAdminError,
    ReviewerCredentials,
    authenticates,
    provision_external_reviewer,
    reviewer_grants,
    revoke_external_reviewer,
    wait_until,
)
from microcred_shared.kafka_auth import KafkaConnection, KafkaCredentials
from microcred_shared.testing.kafka import read_topic
from microcred_shared.testing.servers import Servers

pytestmark = pytest.mark.integration

MICROCRED = str(Path(sys.executable).parent / "microcred")
#: Every wait on the broker is bounded by this.
TIMEOUT = 30.0


@dataclass(frozen=True)
class Reviewers:
    a: ReviewerCredentials
    b: ReviewerCredentials


@pytest.fixture(scope="module")
async def reviewers(servers: Servers) -> Reviewers:
    if servers.kafka_principals is None:
        pytest.skip(f"Kafka does not authenticate clients in {servers.mode} mode")
    run = uuid.uuid4().hex[:8]
    return Reviewers(
        a=await provision_external_reviewer(servers.kafka, f"iso-a-{run}"),
        b=await provision_external_reviewer(servers.kafka, f"iso-b-{run}"),
    )


@pytest.fixture
def platform_kafka(servers: Servers, reviewers: Reviewers) -> KafkaConnection:
    """Kafka as the services connect to it."""
    return servers.kafka_platform


TopicOf = Callable[[Reviewers], str]


async def produce(kafka: KafkaConnection, topic: str, value: bytes) -> None:
    """Publish one record as the services do (idempotent, acks from all), then close."""
    producer = AIOKafkaProducer(
        **kafka.aiokafka_options(), enable_idempotence=True, acks="all", request_timeout_ms=10000
    )
    try:
        await producer.start()
        await producer.send_and_wait(topic, value, key=b"learner-1")
    finally:
        await producer.stop()


async def consume(
    kafka: KafkaConnection, topic: str, group_id: str | None, wanted: bytes
) -> list[bytes]:
    """Subscribe to ``topic`` (in ``group_id``, committing) until ``wanted`` arrives."""
    consumer = AIOKafkaConsumer(
        topic,
        **kafka.aiokafka_options(),
        group_id=group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=10000,
    )
    try:
        await consumer.start()
        deadline = time.monotonic() + TIMEOUT
        seen: list[bytes] = []
        while wanted not in seen:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{wanted!r} did not arrive on {topic}")
            batches = await consumer.getmany(timeout_ms=200)
            seen += [m.value or b"" for messages in batches.values() for m in messages]
        if group_id is not None:
            await consumer.commit()
        return seen
    finally:
        await consumer.stop()


def marker() -> bytes:
    return f'{{"marker": "{uuid.uuid4().hex}"}}'.encode()


async def test_each_reviewer_reads_its_requests_and_answers_on_its_decisions(
    reviewers: Reviewers, platform_kafka: KafkaConnection
) -> None:
    for reviewer in (reviewers.a, reviewers.b):
        request, decision, refusal = marker(), marker(), marker()
        # The platform asks; the institution's reviewer reads it in a group of its own prefix.
        await produce(platform_kafka, reviewer.requests_topic, request)
        group = f"{reviewer.consumer_group_prefix}worker"
        assert request in await consume(
            reviewer.connection(), reviewer.requests_topic, group, request
        )
        # The reviewer answers; the platform reads the decision and may refuse it.
        await produce(reviewer.connection(), reviewer.decisions_topic, decision)
        assert decision in await consume(
            platform_kafka,
            reviewer.decisions_topic,
            f"microcred-test-{uuid.uuid4().hex[:8]}",
            decision,
        )
        await produce(platform_kafka, reviewer.decisions_dead_letter_topic, refusal)
        # The reviewer may read the platform's refusals of its decisions.
        assert refusal in await consume(
            reviewer.connection(), reviewer.decisions_dead_letter_topic, None, refusal
        )


@pytest.mark.parametrize(
    "topic_of",
    [
        pytest.param(lambda r: r.a.requests_topic, id="A's requests"),
        pytest.param(lambda r: r.a.decisions_dead_letter_topic, id="A's refused decisions"),
        pytest.param(lambda r: r.a.decisions_topic, id="A's decisions"),
        pytest.param(lambda r: r.b.decisions_topic, id="its own decisions"),
        pytest.param(lambda _: topics.EVIDENCE_SUBMITTED, id="evidence submitted"),
        pytest.param(lambda _: topics.EVIDENCE_REVIEWED, id="evidence reviewed"),
        pytest.param(lambda _: topics.CREDENTIAL_ISSUED, id="credentials issued"),
    ],
)
async def test_reviewer_of_b_is_refused_reading_what_is_not_its_own(
    reviewers: Reviewers, topic_of: TopicOf
) -> None:
    topic = topic_of(reviewers)
    with pytest.raises(TopicAuthorizationFailedError) as refused:
        await consume(reviewers.b.connection(), topic, None, b"never")
    assert topic in str(refused.value)


@pytest.mark.parametrize(
    "topic_of",
    [
        pytest.param(lambda r: r.a.decisions_topic, id="A's decisions"),
        pytest.param(lambda r: r.a.requests_topic, id="A's requests"),
        pytest.param(lambda r: r.b.requests_topic, id="its own requests"),
        pytest.param(lambda r: r.b.decisions_dead_letter_topic, id="its own refused decisions"),
        pytest.param(lambda _: topics.EVIDENCE_REVIEWED, id="evidence reviewed"),
        pytest.param(lambda _: topics.EVIDENCE_SUBMITTED, id="evidence submitted"),
    ],
)
async def test_reviewer_of_b_is_refused_writing_what_is_not_its_decisions(
    reviewers: Reviewers, topic_of: TopicOf
) -> None:
    topic = topic_of(reviewers)
    with pytest.raises(TopicAuthorizationFailedError) as refused:
        await produce(reviewers.b.connection(), topic, marker())
    assert topic in str(refused.value)


@pytest.mark.parametrize(
    "group_of",
    [
        pytest.param(lambda r: f"{r.a.consumer_group_prefix}worker", id="A's group"),
        pytest.param(lambda _: "microcred-review.microcred.evidence.submitted.v1", id="platform's"),
        pytest.param(lambda r: f"{r.b.username}-worker", id="without its prefix's dot"),
    ],
)
async def test_reviewer_of_b_is_refused_other_consumer_groups(
    reviewers: Reviewers, group_of: TopicOf
) -> None:
    group = group_of(reviewers)
    with pytest.raises(GroupAuthorizationFailedError) as refused:
        await consume(reviewers.b.connection(), reviewers.b.requests_topic, group, b"never")
    assert group in str(refused.value)


async def test_a_wrong_password_or_unknown_user_is_refused_at_authentication(
    servers: Servers, reviewers: Reviewers
) -> None:
    for credentials in (
        KafkaCredentials(reviewers.b.username, "not-the-password"),
        KafkaCredentials(reviewers.b.username, reviewers.a.password),
        KafkaCredentials(f"reviewer-nobody-{uuid.uuid4().hex[:6]}", reviewers.b.password),
    ):
        with pytest.raises(SaslAuthenticationFailed):
            await authenticates(KafkaConnection(servers.kafka_bootstrap, credentials))
    assert await authenticates(reviewers.b.connection())


async def test_reviewers_have_exactly_their_acls_and_reprovisioning_rotates_the_password(
    servers: Servers, reviewers: Reviewers
) -> None:
    async with KafkaAdmin(servers.kafka) as admin:
        for reviewer in (reviewers.a, reviewers.b):
            assert await admin.granted(reviewer.username) == {
                (g.resource, g.pattern, g.name, operation)
                for g in reviewer_grants(reviewer.institution_id)
                for operation in g.operations
            }

    institution = f"iso-c-{uuid.uuid4().hex[:8]}"
    first = await provision_external_reviewer(servers.kafka, institution)
    second = await provision_external_reviewer(servers.kafka, institution)
    assert second.password != first.password
    assert await authenticates(second.connection())
    with pytest.raises(SaslAuthenticationFailed):
        await authenticates(first.connection())


async def test_an_institution_whose_id_extends_anothers_gets_none_of_its_groups(
    servers: Servers, reviewers: Reviewers
) -> None:
    # Ids may hold dots: a's group prefix must not cover the groups of the institution a.sub.
    sub = await provision_external_reviewer(servers.kafka, f"{reviewers.a.institution_id}.sub")
    assert not sub.consumer_group_prefix.startswith(reviewers.a.consumer_group_prefix)
    assert not reviewers.a.consumer_group_prefix.startswith(sub.consumer_group_prefix)
    record = marker()
    await produce(servers.kafka, topics.review_requests(sub.institution_id), record)
    with pytest.raises(GroupAuthorizationFailedError):
        await consume(
            reviewers.a.connection(),
            topics.review_requests(reviewers.a.institution_id),
            f"{sub.consumer_group_prefix}worker",
            record,
        )
    await consume(
        sub.connection(),
        topics.review_requests(sub.institution_id),
        f"{sub.consumer_group_prefix}worker",
        record,
    )


async def test_platform_principal_does_what_the_services_do_within_its_prefixes(
    servers: Servers, reviewers: Reviewers, platform_kafka: KafkaConnection
) -> None:
    # Publish and consume the shared topics in a microcred- group, dead letters included.
    for topic in (topics.EVIDENCE_SUBMITTED, dead_letter(topics.EVIDENCE_REVIEWED)):
        record = marker()
        await produce(platform_kafka, topic, record)
        await consume(platform_kafka, topic, f"microcred-test-{uuid.uuid4().hex[:8]}", record)
    # Create an institution's review topics the first time it needs them (as review does, dead
    # letters included: the running platform's review dead-letters the marker below, and waits
    # for a dead-letter topic that does not exist, holding up every institution's requests).
    institution = f"iso-new-{uuid.uuid4().hex[:8]}"
    wanted = institution_review_topics(institution)
    async with KafkaAdmin(platform_kafka) as as_platform:
        created = await as_platform.ensure_topics(wanted, partitions=3)
    assert sorted(created) == sorted(wanted)
    record = marker()
    await produce(platform_kafka, review_requests(institution), record)
    # An administrator sees what the platform wrote.
    [seen] = await read_topic(
        servers.kafka,
        review_requests(institution),
        keep=lambda r: r.value == record,
        until=lambda kept: len(kept) == 1,
        timeout=TIMEOUT,
    )
    assert seen.value == record
    # Outside its prefixes it is refused too: a reviewer's group, a topic not microcred.'s.
    with pytest.raises(GroupAuthorizationFailedError):
        await consume(
            platform_kafka,
            reviewers.a.decisions_topic,
            f"{reviewers.a.consumer_group_prefix}x",
            b"-",
        )
    async with KafkaAdmin(platform_kafka) as as_platform:
        with pytest.raises(KafkaAdminError, match=r"(?i)authoriz"):
            await as_platform.ensure_topics([f"other.{uuid.uuid4().hex[:8]}"])


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MICROCRED, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("MICROCRED_KAFKA_ADMIN")},
            **env,
        },
        check=False,
    )


@pytest.fixture
def stack_env(servers: Servers) -> dict[str, str]:
    if servers.stack is None:
        pytest.skip("the command's default is the embedded stack")
    return servers.stack.to_env()


async def test_cli_provisions_a_reviewer_on_the_embedded_stack(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    institution = f"iso-cli-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "reviewer.json"

    result = cli("kafka", "reviewer", institution, "--out", str(out), env=stack_env)

    assert result.returncode == 0, result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    document = json.loads(out.read_text())
    assert document["password"] not in result.stdout + result.stderr
    assert document["username"] == f"reviewer-{institution}"
    assert document["sasl_mechanism"] == "SCRAM-SHA-512"
    assert document["security_protocol"] == "SASL_PLAINTEXT"
    assert document["topics"] == {
        "requests": review_requests(institution),
        "decisions": review_decisions(institution),
        "decisions_dead_letter": dead_letter(review_decisions(institution)),
    }
    assert document["consumer_group_prefix"] == f"reviewer-{institution}:"
    reviewer = KafkaConnection(
        document["bootstrap_servers"], KafkaCredentials(document["username"], document["password"])
    )
    await produce(reviewer, document["topics"]["decisions"], marker())
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(reviewer, topics.EVIDENCE_REVIEWED, marker())

    revoked = cli("kafka", "reviewer", institution, "--revoke", env=stack_env)
    assert revoked.returncode == 0, revoked.stderr
    assert f"reviewer-{institution} may no longer log in" in revoked.stdout
    await wait_until("the broker refusing the revoked login", lambda: _refused(reviewer), 30.0)


async def test_cli_takes_any_kafka_from_admin_variables_and_prints_json(
    servers: Servers, stack_env: dict[str, str], tmp_path: Path
) -> None:
    admin = servers.kafka.credentials
    assert admin is not None
    institution = f"iso-env-{uuid.uuid4().hex[:8]}"
    env = {
        # No embedded stack there: only the variables name the broker.
        "MICROCRED_STACK_DATA_DIR": str(tmp_path / "nothing"),
        "MICROCRED_KAFKA_ADMIN_BOOTSTRAP_SERVERS": servers.kafka_bootstrap,
        "MICROCRED_KAFKA_ADMIN_SASL_USERNAME": admin.username,
        "MICROCRED_KAFKA_ADMIN_SASL_PASSWORD": admin.password,
    }

    result = cli("kafka", "reviewer", institution, "--bootstrap-servers", "kafka:9092", env=env)

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["bootstrap_servers"] == "kafka:9092"
    assert document["username"] == f"reviewer-{institution}"
    assert await authenticates(
        KafkaConnection(
            servers.kafka_bootstrap,
            KafkaCredentials(document["username"], document["password"]),
        )
    )
    assert stack_env  # the session's stack is embedded (the variables point elsewhere)


async def test_cli_refuses_a_bad_institution_id_and_a_stopped_stack(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    bad = cli("kafka", "reviewer", "not/an-id", env=stack_env)
    assert bad.returncode == 2
    assert "is not an institution id" in bad.stderr

    stopped = cli(
        "kafka", "reviewer", "iso-x", env={**stack_env, "MICROCRED_STACK_DATA_DIR": str(tmp_path)}
    )
    assert stopped.returncode == 1
    assert "is not running" in stopped.stderr


async def test_a_revoked_reviewer_can_neither_log_in_nor_read(
    servers: Servers, platform_kafka: KafkaConnection
) -> None:
    institution = f"iso-r-{uuid.uuid4().hex[:8]}"
    reviewer = await provision_external_reviewer(servers.kafka, institution)
    requests = topics.review_requests(institution)
    record = marker()
    await produce(servers.kafka, requests, record)
    await consume(reviewer.connection(), requests, f"{reviewer.consumer_group_prefix}w", record)

    assert await revoke_external_reviewer(servers.kafka, institution) == reviewer.username
    async with KafkaAdmin(servers.kafka) as admin:
        assert await admin.granted(reviewer.username) == set()
    await wait_until(
        "the broker refusing the revoked reviewer's login",
        lambda: _refused(reviewer.connection()),
        30.0,
    )
    with pytest.raises(SaslAuthenticationFailed):
        await authenticates(reviewer.connection())
    # Revoking again (a retried command) is harmless; the platform still uses the topics.
    await revoke_external_reviewer(servers.kafka, institution)
    await produce(platform_kafka, requests, marker())


async def _refused(connection: KafkaConnection) -> bool:
    try:
        await authenticates(connection)
    except SaslAuthenticationFailed:
        return True
    return False
