"""Where the embedded stack keeps its data and which ports it listens on.

Variables ``MICROCRED_STACK_*`` override every default (``MICROCRED_STACK_KAFKA_PORT=29092``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from microcred_shared.kafka_auth import KafkaConnection, KafkaCredentials
from microcred_shared.stack.kafka_security import (
    KafkaSecrets,
    kafka_secrets_path,
    read_kafka_secrets,
)

SERVICES = ("intake", "review", "accounting", "issuer", "notifier")


def find_project_root(start: Path | None = None) -> Path:
    """The checkout this command runs in: the nearest folder holding ``deploy/kafka/pom.xml``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "deploy" / "kafka" / "pom.xml").is_file():
            return candidate
    package_root = Path(__file__).resolve().parents[3]
    if (package_root / "deploy" / "kafka" / "pom.xml").is_file():
        return package_root
    raise FileNotFoundError(
        "cannot find the microcred checkout (deploy/kafka/pom.xml); run from inside it or set "
        "MICROCRED_STACK_PROJECT_ROOT"
    )


Port = int


class StackConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MICROCRED_STACK_", extra="ignore", frozen=True)

    project_root: Path = Field(default_factory=find_project_root)
    data_dir: Path = Path()
    host: str = "127.0.0.1"

    kafka_port: Port = 19092
    kafka_controller_port: Port = 19093
    kafka_partitions: int = Field(default=3, ge=1)
    kafka_heap: str = "512m"
    mongodb_port: Port = 27517
    s3_port: Port = 18333
    s3_master_port: Port = 19333
    s3_volume_port: Port = 18080
    s3_filer_port: Port = 18888
    s3_admin_port: Port = 18646
    smtp_port: Port = 18025
    intake_port: Port = 8001
    review_port: Port = 8002
    accounting_port: Port = 8003
    issuer_port: Port = 8004
    notifier_port: Port = 8005

    @model_validator(mode="after")
    def _resolve_paths(self) -> Self:
        root = self.project_root.resolve()
        data = self.data_dir if self.data_dir != Path() else root / ".data"
        object.__setattr__(self, "project_root", root)
        object.__setattr__(self, "data_dir", (root / data).resolve())
        return self

    @property
    def kafka_libs(self) -> Path:
        return self.project_root / ".cache" / "kafka" / "libs"

    @property
    def pom(self) -> Path:
        return self.project_root / "deploy" / "kafka" / "pom.xml"

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def maildir(self) -> Path:
        return self.data_dir / "smtp"

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def kafka_secrets_file(self) -> Path:
        """The broker's passwords (mode 0600), made on its first start."""
        return kafka_secrets_path(self.data_dir)

    def kafka_secrets(self) -> KafkaSecrets:
        found = read_kafka_secrets(self.data_dir)
        if found is None:
            raise FileNotFoundError(
                f"no Kafka credentials in {self.kafka_secrets_file}: the embedded broker makes "
                "them when it first starts ('microcred infra up')"
            )
        return found

    def kafka_admin(self) -> KafkaConnection:
        """The embedded broker as its super user (topics, users, ACLs, the test helpers)."""
        return KafkaConnection(self.kafka_bootstrap, self.kafka_secrets().admin())

    def kafka_platform_credentials(self) -> KafkaCredentials:
        """The principal the five services connect as."""
        return self.kafka_secrets().platform()

    @property
    def mongodb_uri(self) -> str:
        # SecantusDB slows to a crawl under retryable writes (see the README); real MongoDB
        # keeps PyMongo's defaults because this is a setting, not code.
        return f"mongodb://{self.host}:{self.mongodb_port}/?retryWrites=false"

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    def service_port(self, service: str) -> int:
        port: int = getattr(self, f"{service}_port")
        return port

    def service_url(self, service: str) -> str:
        return f"http://{self.host}:{self.service_port(service)}"

    def to_env(self) -> dict[str, str]:
        """Return the configuration as ``MICROCRED_STACK_*`` variables, for a child process."""
        return {
            f"MICROCRED_STACK_{name.upper()}": str(value)
            for name, value in self.model_dump().items()
        }

    def platform_env(self) -> dict[str, str]:
        """The variables that point every service at this stack.

        Once the broker has started, they carry the platform principal's credentials.
        """
        found = read_kafka_secrets(self.data_dir)
        kafka = KafkaConnection(self.kafka_bootstrap, found.platform() if found else None)
        env = {
            **kafka.settings_env(),
            "MICROCRED_MONGODB_URI": self.mongodb_uri,
            "MICROCRED_S3_ENDPOINT_URL": self.s3_endpoint,
            "MICROCRED_SMTP_HOST": self.host,
            "MICROCRED_SMTP_PORT": str(self.smtp_port),
        }
        for service in SERVICES:
            prefix = f"MICROCRED_{service.upper()}_"
            env[prefix + "HTTP_HOST"] = self.host
            env[prefix + "HTTP_PORT"] = str(self.service_port(service))
            env[prefix + "PUBLIC_URL"] = self.service_url(service)
        env["MICROCRED_INTAKE_ISSUER_URL"] = self.service_url("issuer")
        env["MICROCRED_INTAKE_REVIEW_URL"] = self.service_url("review")
        env["MICROCRED_INTAKE_ACCOUNTING_URL"] = self.service_url("accounting")
        env["MICROCRED_INTAKE_NOTIFIER_URL"] = self.service_url("notifier")
        env["MICROCRED_NOTIFIER_INTAKE_URL"] = self.service_url("intake")
        env["MICROCRED_NOTIFIER_ISSUER_URL"] = self.service_url("issuer")
        env["MICROCRED_JWKS_URL"] = f"{self.service_url('intake')}/.well-known/jwks.json"
        return env
