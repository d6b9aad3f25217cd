"""The embedded stack: clear refusal without Java, health, and data kept across restarts."""

from __future__ import annotations

import base64
import hashlib
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
from microcred_shared.stack.components import KafkaDataError, kafka_component, kafka_properties
from microcred_shared.stack.config import StackConfig
from microcred_shared.stack.kafka_security import (
    SCRAM_ITERATIONS,
    format_arguments,
    load_or_create_kafka_secrets,
)
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
    # The broker authenticates every client: the stack's admin, from its data directory.
    kafka = cfg.kafka_admin()
    secrets_mode = cfg.kafka_secrets_file.stat().st_mode & 0o777
    assert secrets_mode == 0o600
    producer = AIOKafkaProducer(**kafka.aiokafka_options(), acks="all")
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

    # The passwords of the first start are kept: the same credentials still get in.
    assert cfg.kafka_admin() == kafka
    records = await read_topic(
        kafka,
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


@pytest.mark.unit
def test_kafka_passwords_are_made_once_kept_private_and_never_shown(tmp_path: Path) -> None:
    first = load_or_create_kafka_secrets(tmp_path)
    again = load_or_create_kafka_secrets(tmp_path)

    assert again == first
    assert (tmp_path / "kafka-secrets.json").stat().st_mode & 0o777 == 0o600
    passwords = (first.admin_password, first.platform_password, first.controller_password)
    assert len(set(passwords)) == 3
    assert all(len(p) >= 40 for p in passwords)
    shown = repr(first) + repr(first.admin()) + repr(first.platform())
    assert not any(p in shown for p in passwords)


@pytest.mark.unit
def test_the_storage_format_command_never_holds_a_password(tmp_path: Path) -> None:
    kafka_secrets = load_or_create_kafka_secrets(tmp_path)
    arguments = format_arguments(kafka_secrets)
    command_line = " ".join(arguments)

    passwords = (
        kafka_secrets.admin_password,
        kafka_secrets.platform_password,
        kafka_secrets.controller_password,
    )
    assert not any(p in command_line for p in passwords)
    assert "password=" not in command_line.replace("saltedpassword=", "")
    # What Kafka's ScramParser reads: MECHANISM=[key=value,...], Base64 salt and salted password.
    assert arguments[0] == "--add-scram"
    mechanism, _, body = arguments[1].partition("=")
    assert mechanism == "SCRAM-SHA-512"
    assert body.startswith("[")
    assert body.endswith("]")
    fields = dict(part.split("=", 1) for part in body[1:-1].split(","))
    assert fields.keys() == {"name", "iterations", "salt", "saltedpassword"}
    assert fields["name"] == "microcred-admin"
    assert int(fields["iterations"]) == SCRAM_ITERATIONS
    salt = base64.b64decode(fields["salt"], validate=True)
    assert len(salt) >= 16
    expected = hashlib.pbkdf2_hmac(
        "sha512", kafka_secrets.admin_password.encode(), salt, SCRAM_ITERATIONS
    )
    assert base64.b64decode(fields["saltedpassword"], validate=True) == expected
    # A fresh salt every time: no two formats hand out the same salted password.
    assert format_arguments(kafka_secrets) != arguments


@pytest.mark.unit
def test_every_kafka_listener_authenticates_and_acls_refuse_by_default(tmp_path: Path) -> None:
    cfg = free_ports_config(tmp_path)
    properties = dict(
        line.split("=", 1)
        for line in kafka_properties(cfg, load_or_create_kafka_secrets(tmp_path)).splitlines()
        if line
    )

    assert properties["listener.security.protocol.map"] == (
        "CONTROLLER:SASL_PLAINTEXT,BROKER:SASL_PLAINTEXT"
    )
    assert "PLAINTEXT://" not in properties["listeners"].replace("SASL_PLAINTEXT", "")
    assert properties["listener.name.broker.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert properties["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert properties["authorizer.class.name"].endswith(".StandardAuthorizer")
    assert properties["super.users"] == "User:microcred-admin;User:microcred-controller"


@pytest.mark.unit
async def test_kafka_data_made_without_authentication_is_refused_with_what_to_do(
    tmp_path: Path,
) -> None:
    cfg = free_ports_config(tmp_path)
    if not (cfg.kafka_libs / ".pom-sha256").exists():
        pytest.skip("Kafka's jars are not fetched yet")
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "meta.properties").write_text("node.id=1\n")

    prepare = kafka_component(cfg).prepare
    assert prepare is not None
    with pytest.raises(KafkaDataError, match="remove that folder"):
        await prepare()
