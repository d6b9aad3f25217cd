"""The embedded stack: clear refusal without Java, health, and data kept across restarts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from aiokafka import AIOKafkaProducer
from pymongo import AsyncMongoClient

from microcred_shared.settings import DEVELOPMENT_S3_ACCESS_KEY, DEVELOPMENT_S3_SECRET_KEY
from microcred_shared.stack import control
from microcred_shared.stack.config import StackConfig
from microcred_shared.testing.kafka import read_topic
from microcred_shared.testing.servers import free_ports_config

MICROCRED = str(Path(sys.executable).parent / "microcred")


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MICROCRED, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.mark.unit
def test_missing_java_is_named_with_what_to_install(tmp_path: Path) -> None:
    result = cli(
        "infra",
        "up",
        env={"PATH": str(tmp_path), "MICROCRED_STACK_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.returncode == 2
    assert "'java' is not installed" in result.stderr
    assert "apt-get install openjdk-17-jre-headless" in result.stderr


@pytest.mark.unit
def test_missing_maven_is_named_when_the_jars_are_not_there_yet(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "deploy" / "kafka").mkdir(parents=True)
    shutil.copy(StackConfig().pom, checkout / "deploy" / "kafka" / "pom.xml")
    tools = tmp_path / "bin"
    tools.mkdir()
    java = shutil.which("java")
    assert java is not None
    (tools / "java").symlink_to(java)

    result = cli(
        "infra",
        "up",
        env={
            "PATH": str(tools),
            "MICROCRED_STACK_PROJECT_ROOT": str(checkout),
            "MICROCRED_STACK_DATA_DIR": str(tmp_path / "data"),
        },
    )

    assert result.returncode == 2
    assert "'mvn' is not installed" in result.stderr
    assert "apt-get install maven" in result.stderr


@pytest.fixture(scope="module")
def own_stack() -> Iterator[StackConfig]:
    data_dir = Path(tempfile.mkdtemp(prefix="microcred-restart-"))
    cfg = free_ports_config(data_dir)
    try:
        yield cfg
    finally:
        control.stop_group(cfg, "infra")
        shutil.rmtree(data_dir, ignore_errors=True)


def s3(cfg: StackConfig):  # type: ignore[no-untyped-def]
    return boto3.client(
        "s3",
        endpoint_url=cfg.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=DEVELOPMENT_S3_ACCESS_KEY,
        aws_secret_access_key=DEVELOPMENT_S3_SECRET_KEY,
    )


@pytest.mark.integration
async def test_status_and_restart_on_the_same_data_keep_everything(own_stack: StackConfig) -> None:
    cfg = own_stack
    env = cfg.to_env()
    assert control.start_group(cfg, "infra")
    status = cli("infra", "status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    for server in ("kafka", "mongodb", "s3", "smtp"):
        assert server in status.stdout
    assert "down" not in status.stdout

    marker = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=cfg.kafka_bootstrap, acks="all")
    await producer.start()
    await producer.send_and_wait("microcred.evidence.submitted.v1", marker.encode(), key=b"k")
    await producer.stop()
    mongo: AsyncMongoClient[dict[str, str]] = AsyncMongoClient(cfg.mongodb_uri)
    await mongo["restart"]["docs"].insert_one({"_id": marker})
    await mongo.close()
    s3(cfg).create_bucket(Bucket="restart-bucket")
    s3(cfg).put_object(Bucket="restart-bucket", Key=marker, Body=b"kept")

    assert control.stop_group(cfg, "infra")
    down = cli("infra", "status", env=env)
    assert down.returncode == 1
    assert control.start_group(cfg, "infra")

    records = await read_topic(
        cfg.kafka_bootstrap,
        "microcred.evidence.submitted.v1",
        keep=lambda r: r.value == marker.encode(),
        until=lambda kept: len(kept) == 1,
    )
    assert records[0].key == b"k"
    mongo = AsyncMongoClient(cfg.mongodb_uri)
    assert await mongo["restart"]["docs"].find_one({"_id": marker}) == {"_id": marker}
    await mongo.close()
    body = s3(cfg).get_object(Bucket="restart-bucket", Key=marker)["Body"].read()
    assert body == b"kept"
