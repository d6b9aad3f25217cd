"""The embedded stack's components, and the five services.

Real Kafka, SecantusDB, SeaweedFS and an SMTP sink; each component is a command line, a health
check and, where needed, a preparation step.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import shutil
import sys
import uuid
from pathlib import Path

import httpx
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from pymongo import AsyncMongoClient

from microcred_shared.contracts import topics
from microcred_shared.kafka_auth import KafkaConnection
from microcred_shared.settings import DEVELOPMENT_S3_ACCESS_KEY, DEVELOPMENT_S3_SECRET_KEY
from microcred_shared.stack.config import SERVICES, StackConfig
from microcred_shared.stack.kafka_security import (
    KafkaSecrets,
    format_arguments,
    load_or_create_kafka_secrets,
    read_kafka_secrets,
    security_properties,
    write_private_file,
)
from microcred_shared.stack.supervisor import Component


class MissingToolError(RuntimeError):
    """A tool the embedded stack needs is not installed; the message says what to install."""


def require_tool(name: str, purpose: str, debian_package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingToolError(
            f"'{name}' is not installed; the embedded stack needs it {purpose}. "
            f"Install it (Debian/Ubuntu: apt-get install {debian_package}) and try again."
        )
    return path


def venv_tool(name: str) -> str:
    """A console script installed beside this interpreter (secantusd-py, weed)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise MissingToolError(
            f"'{name}' is missing from the Python environment; run 'make install' "
            "(the embedded extra of microcred-shared provides it)"
        )
    return found


async def _run(*command: str, log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        process = await asyncio.create_subprocess_exec(
            *command, stdout=handle, stderr=asyncio.subprocess.STDOUT
        )
        try:
            code = await process.wait()
        except asyncio.CancelledError:
            # A step cut short (the group is stopping) must not outlive it.
            process.kill()
            await process.wait()
            raise
    if code != 0:
        raise RuntimeError(f"{' '.join(command[:3])}... failed with code {code}; see {log}")


# --- Kafka ---------------------------------------------------------------------------------------

KAFKA_CLUSTER_ID_FILE = "cluster.id"


async def ensure_kafka_jars(cfg: StackConfig) -> None:
    """Fetch the broker's jars from Maven Central once per version of the pom."""
    marker = cfg.kafka_libs / ".pom-sha256"
    digest = hashlib.sha256(cfg.pom.read_bytes()).hexdigest()
    if marker.exists() and marker.read_text() == digest:
        return
    mvn = require_tool("mvn", "to fetch Apache Kafka's jars from Maven Central", "maven")
    if cfg.kafka_libs.exists():
        shutil.rmtree(cfg.kafka_libs)
    await _run(
        mvn,
        "-q",
        "-B",
        "-f",
        str(cfg.pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={cfg.kafka_libs}",
        "-DincludeScope=runtime",
        log=cfg.logs / "kafka-jars.log",
    )
    marker.write_text(digest)


def kafka_properties(cfg: StackConfig, kafka_secrets: KafkaSecrets) -> str:
    """The broker's ``server.properties``; it holds passwords, so it is written mode 0600."""
    log_dir = cfg.data_dir / "kafka"
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            # A fixed voter set: the dynamic-quorum alternative logs spurious errors at start.
            f"controller.quorum.voters=1@{cfg.host}:{cfg.kafka_controller_port}",
            # Listeners, SASL (SCRAM for clients, PLAIN for the quorum) and ACLs.
            *security_properties(
                cfg.host, cfg.kafka_port, cfg.kafka_controller_port, kafka_secrets
            ),
            f"log.dirs={log_dir}",
            f"num.partitions={cfg.kafka_partitions}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # After a crash, the restarted broker need not wait long for its old session to end.
            "broker.heartbeat.interval.ms=500",
            "broker.session.timeout.ms=2000",
            "auto.create.topics.enable=false",
            "log.retention.hours=168",
            "log.segment.bytes=16777216",
            "",
        ]
    )


def _java_command(cfg: StackConfig, main_class: str, *args: str) -> list[str]:
    java = require_tool("java", "to run Apache Kafka (Java 17 or newer)", "openjdk-17-jre-headless")
    return [
        java,
        "-Xms128m",
        f"-Xmx{cfg.kafka_heap}",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Xshare:auto",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={cfg.project_root / 'deploy' / 'kafka' / 'log4j2.yaml'}",
        f"-Dkafka.logs.dir={cfg.logs / 'kafka'}",
        "-cp",
        f"{cfg.kafka_libs}/*",
        main_class,
        *args,
    ]


class KafkaDataError(RuntimeError):
    """The broker's data directory cannot be used as it is; the message says what to do."""


def kafka_component(cfg: StackConfig) -> Component:
    config_file = cfg.data_dir / "kafka.properties"
    log_dir = cfg.data_dir / "kafka"

    async def prepare() -> None:
        await ensure_kafka_jars(cfg)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        formatted = (log_dir / "meta.properties").exists()
        if formatted and read_kafka_secrets(cfg.data_dir) is None:
            # Its metadata log has no SCRAM credential for the admin, and no other way in.
            raise KafkaDataError(
                f"{log_dir} was made by a broker without authentication, and the embedded "
                "broker now requires it: remove that folder (its topics are lost) or the whole "
                f"data directory ({cfg.data_dir}) and start again"
            )
        kafka_secrets = load_or_create_kafka_secrets(cfg.data_dir)
        write_private_file(config_file, kafka_properties(cfg, kafka_secrets), replace=True)
        if not formatted:
            id_file = cfg.data_dir / KAFKA_CLUSTER_ID_FILE
            if not id_file.exists():
                id_file.write_text(_kafka_cluster_id())
            # The tool prints the admin's (salted, hashed) SCRAM record: only its owner reads it.
            format_log = cfg.logs / "kafka-format.log"
            format_log.parent.mkdir(parents=True, exist_ok=True)
            format_log.touch(mode=0o600)
            format_log.chmod(0o600)
            await _run(
                *_java_command(
                    cfg,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    id_file.read_text().strip(),
                    "-c",
                    str(config_file),
                    *format_arguments(kafka_secrets),
                ),
                log=format_log,
            )

    async def healthy() -> bool:
        return await kafka_ready(cfg.kafka_admin())

    async def after_start() -> None:
        # Imported here: the admin client is part of the embedded extra only.
        from microcred_shared.kafka_admin import ensure_platform_principal  # noqa: PLC0415

        admin = cfg.kafka_admin()
        await ensure_topics(admin, cfg.kafka_partitions)
        await ensure_platform_principal(admin, cfg.kafka_platform_credentials())

    return Component(
        name="kafka",
        command=_java_command(cfg, "kafka.Kafka", str(config_file)),
        health=healthy,
        endpoint=cfg.kafka_bootstrap,
        log_file=cfg.logs / "kafka.out",
        prepare=prepare,
        after_start=after_start,
        startup_timeout=180.0,
    )


def _kafka_cluster_id() -> str:
    """16 random bytes in URL-safe base64 without padding, as Kafka's own ids are."""
    while True:
        candidate = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # One id in 64 would start with "-", which the storage tool reads as an option.
        if not candidate.startswith("-"):
            return candidate


def _connection(kafka: KafkaConnection | str) -> KafkaConnection:
    return KafkaConnection(kafka) if isinstance(kafka, str) else kafka


async def kafka_ready(kafka: KafkaConnection | str) -> bool:
    """Whether the broker answers (as ``kafka``'s principal, when it has one)."""
    admin = AIOKafkaAdminClient(**_connection(kafka).aiokafka_options(), request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.describe_cluster(), 5)
    except Exception:  # noqa: BLE001 - not ready
        return False
    finally:
        await admin.close()
    return True


async def ensure_topics(kafka: KafkaConnection | str, partitions: int) -> None:
    """Create every topic and its dead-letter twin; existing ones are left as they are.

    ``kafka`` must be allowed to create topics: on the embedded broker, its admin.
    """
    admin = AIOKafkaAdminClient(**_connection(kafka).aiokafka_options(), request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics.all_with_dead_letters() if t not in existing]
        if wanted:
            # Another process may create them at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(t, num_partitions=partitions, replication_factor=1) for t in wanted]
                )
    finally:
        await admin.close()


# --- SecantusDB (MongoDB wire protocol) -------------------------------------------------------


def mongodb_component(cfg: StackConfig) -> Component:
    async def healthy() -> bool:
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
            cfg.mongodb_uri, serverSelectionTimeoutMS=1000
        )
        try:
            await client.admin.command("ping")
        finally:
            await client.close()
        return True

    storage = cfg.data_dir / "mongodb"
    # An explicit (empty) configuration file, or the server would pick up any secantusd.toml
    # lying in the working or home directory.
    config_file = cfg.data_dir / "secantusd.toml"

    async def prepare() -> None:
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        config_file.touch()

    return Component(
        name="mongodb",
        command=[
            venv_tool("secantusd-py"),
            "--config",
            str(config_file),
            "--host",
            cfg.host,
            "--port",
            str(cfg.mongodb_port),
            "--storage-path",
            str(storage),
            "--cache-size",
            "256M",
            "--log-level",
            "WARNING",
            # A write acknowledged just before a SIGKILL must survive it.
            "--sync-on-commit",
        ],
        health=healthy,
        endpoint=cfg.mongodb_uri,
        log_file=cfg.logs / "mongodb.log",
        cwd=cfg.data_dir,
        prepare=prepare,
        startup_timeout=60.0,
    )


# --- SeaweedFS (S3) -----------------------------------------------------------------------------


def s3_component(cfg: StackConfig) -> Component:
    directory = cfg.data_dir / "s3"
    credentials = cfg.data_dir / "s3-identities.json"

    async def prepare() -> None:
        directory.mkdir(parents=True, exist_ok=True)
        # mini replays the flags of its last run from this file; the command line alone rules.
        (directory / "mini.options").unlink(missing_ok=True)
        credentials.write_text(
            '{"identities":[{"name":"microcred","credentials":[{"accessKey":"'
            + DEVELOPMENT_S3_ACCESS_KEY
            + '","secretKey":"'
            + DEVELOPMENT_S3_SECRET_KEY
            + '"}],"actions":["Admin","Read","Write","List","Tagging"]}]}'
        )

    async def healthy() -> bool:
        async with httpx.AsyncClient(timeout=2) as client:
            gateway = await client.get(f"{cfg.s3_endpoint}/healthz")
            if gateway.status_code != 200:  # noqa: PLR2004
                return False
            status = (await client.get(f"http://{cfg.host}:{cfg.s3_master_port}/dir/status")).json()
        # The gateway answers before the volume server has told the master about the volumes it
        # holds; until it has, objects stored before a restart cannot be read.
        nodes = [
            node
            for centre in status["Topology"].get("DataCenters") or []
            for rack in centre.get("Racks") or []
            for node in rack.get("DataNodes") or []
        ]
        registered = sum(int(node.get("Volumes", 0)) for node in nodes)
        return bool(nodes) and registered >= len(list(directory.glob("*.dat")))

    return Component(
        name="s3",
        # Every port is set (gRPC listens at +10000 of each): a port left to its default is
        # silently moved elsewhere when taken, and two stacks would then share one.
        command=[
            venv_tool("weed"),
            "-logtostderr",
            "mini",
            f"-dir={directory}",
            f"-ip={cfg.host}",
            f"-ip.bind={cfg.host}",
            f"-s3.port={cfg.s3_port}",
            f"-master.port={cfg.s3_master_port}",
            f"-volume.port={cfg.s3_volume_port}",
            f"-filer.port={cfg.s3_filer_port}",
            f"-admin.port={cfg.s3_admin_port}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={credentials}",
            f"-s3.localSocket={directory / 's3.sock'}",
            f"-filer.localSocket={directory / 'filer.sock'}",
            "-master.volumeSizeLimitMB=16",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
        ],
        # weed would accept AWS_* credentials from its environment as a second key pair.
        env_removed=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
        health=healthy,
        endpoint=cfg.s3_endpoint,
        log_file=cfg.logs / "s3.log",
        cwd=directory,
        prepare=prepare,
        startup_timeout=90.0,
    )


# --- SMTP sink ----------------------------------------------------------------------------------


def smtp_component(cfg: StackConfig) -> Component:
    async def healthy() -> bool:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(cfg.host, cfg.smtp_port), 2)
        try:
            banner = await asyncio.wait_for(reader.readline(), 2)
        finally:
            writer.close()
        return banner.startswith(b"220")

    return Component(
        name="smtp",
        command=[
            sys.executable,
            "-m",
            "microcred_shared.stack.smtp_sink",
            "--host",
            cfg.host,
            "--port",
            str(cfg.smtp_port),
            "--maildir",
            str(cfg.maildir),
        ],
        health=healthy,
        endpoint=f"smtp://{cfg.host}:{cfg.smtp_port} (messages in {cfg.maildir})",
        log_file=cfg.logs / "smtp.log",
        startup_timeout=30.0,
    )


# --- the five services --------------------------------------------------------------------------


def service_component(cfg: StackConfig, service: str, extra_env: dict[str, str]) -> Component:
    url = cfg.service_url(service)

    async def ready() -> bool:
        async with httpx.AsyncClient(timeout=2) as client:
            response = await client.get(f"{url}/readyz")
        return response.status_code == 200  # noqa: PLR2004

    # Servers named in the environment (MICROCRED_KAFKA_BOOTSTRAP_SERVERS, ...) win over the
    # embedded ones, so the services can run against an external Kafka, MongoDB, S3, SMTP.
    stack_env = cfg.platform_env()
    if "MICROCRED_KAFKA_BOOTSTRAP_SERVERS" in {**os.environ, **extra_env}:
        # Another Kafka: the embedded broker's credentials are not for it.
        stack_env = {k: v for k, v in stack_env.items() if not k.startswith("MICROCRED_KAFKA_")}
    return Component(
        name=service,
        command=[sys.executable, "-m", f"microcred_{service}"],
        health=ready,
        endpoint=url,
        log_file=cfg.logs / f"{service}.log",
        env={**{k: v for k, v in stack_env.items() if k not in os.environ}, **extra_env},
        startup_timeout=60.0,
    )


def preflight(cfg: StackConfig) -> None:
    """Refuse early, naming what to install, when a tool the embedded stack runs is missing."""
    require_tool("java", "to run Apache Kafka (Java 17 or newer)", "openjdk-17-jre-headless")
    marker = cfg.kafka_libs / ".pom-sha256"
    if not marker.exists():
        require_tool("mvn", "to fetch Apache Kafka's jars from Maven Central", "maven")
    venv_tool("secantusd-py")
    venv_tool("weed")


def infra_components(cfg: StackConfig) -> list[Component]:
    return [kafka_component(cfg), mongodb_component(cfg), s3_component(cfg), smtp_component(cfg)]


def service_components(
    cfg: StackConfig, extra_env: dict[str, str] | None = None
) -> list[Component]:
    return [service_component(cfg, s, extra_env or {}) for s in SERVICES]
