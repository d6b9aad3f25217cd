"""Bad decisions on the real Kafka: each ends in the dead letters with its reason, no hours move.

Negative and non-numeric hours fail the contract; another institution's decision on evidence
contradicts the evidence as filed; a decision on evidence never filed waits out its grace period.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from microcred_accounting.bootstrap import build_app
from microcred_accounting.handlers import Accounting
from microcred_accounting.reports import ReadSide
from microcred_accounting.settings import AccountingSettings
from microcred_shared.contracts import topics
from microcred_shared.demo import wait_for
from microcred_shared.testing.apps import running, service_env
from microcred_shared.testing.kafka import client_options, read_topic
from microcred_shared.testing.servers import Servers
from services.accounting.tests.ledger_samples import filed, reviewed

pytestmark = pytest.mark.integration


async def publish_raw(servers: Servers, records: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**client_options(servers.kafka), enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topics.EVIDENCE_REVIEWED, value, key=key)
    finally:
        await producer.stop()


def with_hours(document: dict[str, Any], hours: str) -> bytes:
    return json.dumps({**document, "data": {**document["data"], "approved_hours": hours}}).encode()


async def test_bad_decisions_are_dead_lettered_with_reasons_and_move_no_hours(
    servers: Servers, topics_ready: None
) -> None:
    tenant = f"inst-{uuid.uuid4().hex[:8]}"
    other = f"inst-{uuid.uuid4().hex[:8]}"
    honest = reviewed(f"{tenant}-e1", tenant=tenant)
    document = json.loads(honest.to_bytes())
    foreign = reviewed(f"{tenant}-e1", tenant=other)  # names tenant's evidence
    never_filed = reviewed(f"{tenant}-ghost", tenant=tenant)

    settings = AccountingSettings(
        **service_env(servers, "accounting"),  # type: ignore[arg-type]
        unknown_evidence_grace_seconds=1,
        parked_sweep_interval_seconds=0.5,
    )
    app = build_app(settings)
    async with running(app):
        accounting: Accounting = app.state.accounting
        await accounting.on_evidence_submitted(filed(honest))
        await publish_raw(
            servers,
            [
                (honest.key(), with_hours({**document, "id": f"{tenant}-negative"}, "-5")),
                (honest.key(), with_hours({**document, "id": f"{tenant}-words"}, "thirty")),
                (foreign.key(), foreign.to_bytes()),
                (never_filed.key(), never_filed.to_bytes()),
                (honest.key(), honest.to_bytes()),
            ],
        )
        dead = await read_topic(
            servers.kafka,
            topics.dead_letter(topics.EVIDENCE_REVIEWED),
            keep=lambda r: tenant.encode() in r.value,
            until=lambda kept: len(kept) >= 4,
            timeout=60,
        )
        reasons = sorted(r.headers["dlq-reason"].decode() for r in dead)

        async def ledger_settled() -> bool | None:
            return True if await accounting.ledger.count_documents({}) == 1 else None

        await wait_for("the honest decision on the ledger", ledger_settled, timeout=30)
        progress = await ReadSide(accounting).progress(tenant, "l-1")

    assert len(reasons) == 4, reasons
    assert sorted(r for r in reasons if r.startswith("schema:")) == [
        "schema: data.approved_hours: Input should be a valid decimal",
        "schema: data.approved_hours: Input should be greater than or equal to 0",
    ]
    [contradicting] = [r for r in reasons if "contradicts" in r]
    assert f"institution is {tenant}, not {other}" in contradicting
    [unknown] = [r for r in reasons if r.startswith("unknown evidence")]
    assert f"{tenant}-ghost was not filed within 1 s" in unknown
    assert [(c["competence_id"], c["hours"]) for c in progress["competences"]] == [("c-1", "30")]
