"""``microcred kafka replay-dead-letters`` on the real broker: what it lists, what it sends back.

Three records wait in a dead-letter topic: one of the test's institution, one of another
institution, one refused on another topic. A dry run lists the first and sends nothing; the
replay sends it back to its topic, key, value and own headers kept, ``dlq-*`` left behind; a
``--since`` after it matches nothing.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from typer.testing import CliRunner

from microcred_shared.cli import app
from microcred_shared.contracts import topics
from microcred_shared.kafka import dead_letter_headers
from microcred_shared.testing.kafka import client_options, read_topic_to_end
from microcred_shared.testing.servers import Servers

pytestmark = pytest.mark.integration

TOPIC = topics.NOTIFICATION_SENT


def admin_env(servers: Servers) -> dict[str, str]:
    kafka = servers.kafka
    if kafka.credentials is None:
        return {
            "MICROCRED_KAFKA_ADMIN_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "MICROCRED_KAFKA_ADMIN_SECURITY_PROTOCOL": "PLAINTEXT",
        }
    return {
        "MICROCRED_KAFKA_ADMIN_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "MICROCRED_KAFKA_ADMIN_SECURITY_PROTOCOL": kafka.credentials.security_protocol,
        "MICROCRED_KAFKA_ADMIN_SASL_MECHANISM": kafka.credentials.mechanism,
        "MICROCRED_KAFKA_ADMIN_SASL_USERNAME": kafka.credentials.username,
        "MICROCRED_KAFKA_ADMIN_SASL_PASSWORD": kafka.credentials.password,
    }


async def dead_letter(servers: Servers, origin: str, tenant: str, marker: str) -> None:
    producer = AIOKafkaProducer(**client_options(servers.kafka), acks="all")
    await producer.start()
    try:
        headers = {
            "ce_id": marker,
            **dead_letter_headers(f"institution {tenant} is not registered here", origin),
        }
        await producer.send_and_wait(
            topics.dead_letter(TOPIC),
            json.dumps({"tenant": tenant, "marker": marker}).encode(),
            key=f"learner-{marker}".encode(),
            headers=[(k, v.encode()) for k, v in headers.items()],
        )
    finally:
        await producer.stop()


async def run(servers: Servers, *arguments: str) -> str:
    """The command as an operator types it (in a thread: it runs its own event loop)."""
    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["kafka", "replay-dead-letters", TOPIC, *arguments],
        env=admin_env(servers),
    )
    assert result.exit_code == 0, result.output
    return str(result.output)


async def test_a_dead_letter_goes_back_to_its_topic_as_it_was(
    servers: Servers, topics_ready: None
) -> None:
    tenant, other = f"inst-{uuid.uuid4().hex[:8]}", f"inst-{uuid.uuid4().hex[:8]}"
    marker = uuid.uuid4().hex
    await dead_letter(servers, TOPIC, tenant, marker)
    await dead_letter(servers, TOPIC, other, uuid.uuid4().hex)
    await dead_letter(servers, topics.EVIDENCE_SUBMITTED, tenant, uuid.uuid4().hex)

    def replayed() -> list[dict[str, object]]:
        return [json.loads(r.value) for r in records if marker.encode() in r.value]

    listed = await run(servers, "--institution", tenant, "--dry-run")
    assert "1 record(s) would replay" in listed
    assert "reason: institution" in listed
    assert f"institution={tenant}" in listed
    records = await read_topic_to_end(servers.kafka, TOPIC)
    assert replayed() == []

    sent = await run(servers, "--institution", tenant)
    assert "1 record(s) replayed" in sent
    records = await read_topic_to_end(servers.kafka, TOPIC)
    assert replayed() == [{"tenant": tenant, "marker": marker}]
    [record] = [r for r in records if marker.encode() in r.value]
    assert record.key == f"learner-{marker}".encode()
    assert record.headers.get("ce_id") == marker.encode()
    assert not [name for name in record.headers if name.startswith("dlq-")]

    later = (datetime.now(UTC) + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    assert "0 record(s) replayed" in await run(servers, "--institution", tenant, "--since", later)


def test_an_unknown_topic_is_refused_with_the_known_ones() -> None:
    result = CliRunner().invoke(app, ["kafka", "replay-dead-letters", "microcred.nope.v1"])
    assert result.exit_code == 2
    assert "is not one of the platform's topics" in result.output
