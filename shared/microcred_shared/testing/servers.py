"""The real servers a test session runs against, got one of three ways.

- ``embedded`` (default): the embedded stack (Kafka, SecantusDB, SeaweedFS, SMTP sink) started
  once per session on free ports in a temporary directory, through the same supervisor as
  ``microcred infra up``.
- ``env``: servers named by ``MICROCRED_TEST_KAFKA_BOOTSTRAP_SERVERS``,
  ``MICROCRED_TEST_MONGODB_URI``, ``MICROCRED_TEST_S3_ENDPOINT_URL`` (+ ``_ACCESS_KEY``,
  ``_SECRET_KEY``), ``MICROCRED_TEST_SMTP_HOST`` and ``_PORT``, and ``MICROCRED_TEST_MAILPIT_URL``
  (the mail server's HTTP API, to read what was sent).
  Chosen automatically when ``MICROCRED_TEST_KAFKA_BOOTSTRAP_SERVERS`` is set.
- ``docker``: the official images (Apache Kafka, MongoDB, MinIO, Mailpit) through testcontainers;
  only when asked for with ``MICROCRED_TEST_SERVERS=docker`` and a Docker engine answers.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import httpx

from microcred_shared.kafka_auth import KafkaConnection, KafkaCredentials
from microcred_shared.settings import DEVELOPMENT_S3_ACCESS_KEY, DEVELOPMENT_S3_SECRET_KEY
from microcred_shared.stack import control
from microcred_shared.stack.config import SERVICES, StackConfig
from microcred_shared.stack.smtp_sink import read_messages
from microcred_shared.testing.kafka import register_connection


class MailReader(Protocol):
    def messages(self) -> list[EmailMessage]: ...


@dataclass(frozen=True)
class MaildirReader:
    maildir: Path

    def messages(self) -> list[EmailMessage]:
        return read_messages(self.maildir)


@dataclass(frozen=True)
class MailpitReader:
    """Reads what a Mailpit server received, through its HTTP API."""

    base_url: str

    def messages(self) -> list[EmailMessage]:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            listing = client.get("/api/v1/messages", params={"limit": 1000}).raise_for_status()
            found = []
            for summary in reversed(listing.json().get("messages", [])):
                raw = client.get(f"/api/v1/message/{summary['ID']}/raw").raise_for_status()
                parsed = message_from_bytes(raw.content, policy=policy.default)
                assert isinstance(parsed, EmailMessage)  # noqa: S101
                found.append(parsed)
            return found


@dataclass(frozen=True)
class KafkaPrincipals:
    """Who to connect to an authenticating Kafka as: the super user and the services' principal."""

    admin: KafkaCredentials
    platform: KafkaCredentials


@dataclass
class Servers:
    mode: str
    kafka_bootstrap: str
    mongodb_uri: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    smtp_host: str
    smtp_port: int
    mail: MailReader
    #: The embedded stack's configuration (embedded mode only), for restarting and ports.
    stack: StackConfig | None = None
    #: Kafka's principals where it authenticates clients (the embedded broker); None: plaintext.
    kafka_principals: KafkaPrincipals | None = None

    @property
    def kafka(self) -> KafkaConnection:
        """Kafka as its administrator: what the test helpers (``testing.kafka``) connect as."""
        principals = self.kafka_principals
        return KafkaConnection(self.kafka_bootstrap, principals.admin if principals else None)

    @property
    def kafka_platform(self) -> KafkaConnection:
        """Kafka as the services connect to it (``microcred.`` topics, ``microcred-`` groups)."""
        principals = self.kafka_principals
        return KafkaConnection(self.kafka_bootstrap, principals.platform if principals else None)

    def platform_env(self) -> dict[str, str]:
        """Variables that point services at these servers."""
        return {
            "MICROCRED_ENVIRONMENT": "test",
            **self.kafka_platform.settings_env(),
            "MICROCRED_MONGODB_URI": self.mongodb_uri,
            "MICROCRED_S3_ENDPOINT_URL": self.s3_endpoint,
            "MICROCRED_S3_ACCESS_KEY": self.s3_access_key,
            "MICROCRED_S3_SECRET_KEY": self.s3_secret_key,
            "MICROCRED_SMTP_HOST": self.smtp_host,
            "MICROCRED_SMTP_PORT": str(self.smtp_port),
            "MICROCRED_OUTBOX_RELAY_INTERVAL_SECONDS": "0.5",
            # The consumer lag gauge is there a few seconds after a service starts.
            "MICROCRED_METRICS_LAG_INTERVAL_SECONDS": "2",
        }


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pick(taken: set[int], low: int, high: int, twin_offset: int | None = None) -> int:
    """A free port in [low, high) (and its +offset twin, if asked), not taken already."""
    for _ in range(1000):
        port = random.randint(low, high - 1)  # noqa: S311 - not for security
        wanted = {port} if twin_offset is None else {port, port + twin_offset}
        if taken.isdisjoint(wanted) and all(port_is_free(p) for p in wanted):
            taken.update(wanted)
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


#: Below the kernel's ephemeral range (32768 up), so no outgoing connection takes a port between
#: choosing it and the server binding it.
SEAWEED_PORTS = (11000, 22000)  # their gRPC twins (+10000) stay below 32000
OTHER_PORTS = (22000, 32000)


def free_port() -> int:
    """One free port for a server a test starts itself (below the ephemeral range)."""
    return _pick(set(), *OTHER_PORTS)


def free_ports_config(data_dir: Path) -> StackConfig:
    seaweed = ["s3_port", "s3_master_port", "s3_volume_port", "s3_filer_port", "s3_admin_port"]
    others = [
        "kafka_port",
        "kafka_controller_port",
        "mongodb_port",
        "smtp_port",
        *(f"{s}_port" for s in SERVICES),
    ]
    taken: set[int] = set()
    ports = {name: _pick(taken, *SEAWEED_PORTS, twin_offset=10000) for name in seaweed}
    ports.update({name: _pick(taken, *OTHER_PORTS) for name in others})
    return StackConfig(data_dir=data_dir, **ports)  # type: ignore[arg-type]


def stack_servers(cfg: StackConfig) -> Servers:
    """The servers of an embedded stack configured by ``cfg`` (started, or about to be)."""
    return Servers(
        mode="embedded",
        kafka_bootstrap=cfg.kafka_bootstrap,
        mongodb_uri=cfg.mongodb_uri,
        s3_endpoint=cfg.s3_endpoint,
        s3_access_key=DEVELOPMENT_S3_ACCESS_KEY,
        s3_secret_key=DEVELOPMENT_S3_SECRET_KEY,
        smtp_host=cfg.host,
        smtp_port=cfg.smtp_port,
        mail=MaildirReader(cfg.maildir),
        stack=cfg,
        kafka_principals=KafkaPrincipals(
            admin=cfg.kafka_secrets().admin(), platform=cfg.kafka_platform_credentials()
        ),
    )


@contextmanager
def embedded_servers() -> Iterator[Servers]:
    data_dir = Path(tempfile.mkdtemp(prefix="microcred-stack-"))
    cfg = free_ports_config(data_dir)
    try:
        control.start_group(cfg, "infra")
        yield stack_servers(cfg)
    finally:
        control.stop_group(cfg, "services")
        control.stop_group(cfg, "infra")
        if os.environ.get("MICROCRED_TEST_KEEP_DATA") != "1":
            shutil.rmtree(data_dir, ignore_errors=True)


@contextmanager
def env_servers() -> Iterator[Servers]:
    env = os.environ
    missing = [
        name
        for name in (
            "MICROCRED_TEST_KAFKA_BOOTSTRAP_SERVERS",
            "MICROCRED_TEST_MONGODB_URI",
            "MICROCRED_TEST_S3_ENDPOINT_URL",
            "MICROCRED_TEST_SMTP_HOST",
            "MICROCRED_TEST_MAILPIT_URL",
        )
        if not env.get(name)
    ]
    if missing:
        raise RuntimeError(f"MICROCRED_TEST_SERVERS=env needs {', '.join(missing)}")
    yield Servers(
        mode="env",
        kafka_bootstrap=env["MICROCRED_TEST_KAFKA_BOOTSTRAP_SERVERS"],
        mongodb_uri=env["MICROCRED_TEST_MONGODB_URI"],
        s3_endpoint=env["MICROCRED_TEST_S3_ENDPOINT_URL"],
        s3_access_key=env.get("MICROCRED_TEST_S3_ACCESS_KEY", DEVELOPMENT_S3_ACCESS_KEY),
        s3_secret_key=env.get("MICROCRED_TEST_S3_SECRET_KEY", DEVELOPMENT_S3_SECRET_KEY),
        smtp_host=env["MICROCRED_TEST_SMTP_HOST"],
        smtp_port=int(env.get("MICROCRED_TEST_SMTP_PORT", "25")),
        mail=MailpitReader(env["MICROCRED_TEST_MAILPIT_URL"]),
    )


@contextmanager
def docker_servers() -> Iterator[Servers]:  # pragma: no cover - needs a Docker engine
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.kafka import KafkaContainer  # noqa: PLC0415
    from testcontainers.minio import MinioContainer  # noqa: PLC0415
    from testcontainers.mongodb import MongoDbContainer  # noqa: PLC0415

    with ExitStack() as stack:
        kafka = stack.enter_context(KafkaContainer("apache/kafka:4.1.1").with_kraft())
        mongo = stack.enter_context(MongoDbContainer("mongo:8.0"))
        minio = stack.enter_context(MinioContainer("minio/minio:latest"))
        mailpit = stack.enter_context(
            DockerContainer("axllent/mailpit:latest").with_exposed_ports(1025, 8025)
        )
        deadline = time.monotonic() + 60
        mailpit_url = f"http://{mailpit.get_container_host_ip()}:{mailpit.get_exposed_port(8025)}"
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{mailpit_url}/api/v1/info", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        minio_config = minio.get_config()
        yield Servers(
            mode="docker",
            kafka_bootstrap=kafka.get_bootstrap_server(),
            mongodb_uri=mongo.get_connection_url(),
            s3_endpoint=f"http://{minio_config['endpoint']}",
            s3_access_key=minio_config["access_key"],
            s3_secret_key=minio_config["secret_key"],
            smtp_host=mailpit.get_container_host_ip(),
            smtp_port=int(mailpit.get_exposed_port(1025)),
            mail=MailpitReader(mailpit_url),
        )


def servers_for_session() -> Iterator[Servers]:
    mode = os.environ.get("MICROCRED_TEST_SERVERS") or (
        "env" if os.environ.get("MICROCRED_TEST_KAFKA_BOOTSTRAP_SERVERS") else "embedded"
    )
    factories = {"embedded": embedded_servers, "env": env_servers, "docker": docker_servers}
    if mode not in factories:
        raise RuntimeError(f"MICROCRED_TEST_SERVERS={mode!r}: choose embedded, env or docker")
    with factories[mode]() as servers:
        # Helpers given only ``servers.kafka_bootstrap`` then connect as the administrator.
        register_connection(servers.kafka)
        yield servers
