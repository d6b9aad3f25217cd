"""Typed settings of a microcred service.

Every service reads ``MICROCRED_<SERVICE>_<NAME>`` first and falls back to ``MICROCRED_<NAME>``,
so one set of variables configures the whole platform and a service can still be pointed
elsewhere alone (``MICROCRED_ISSUER_MONGODB_URI=...``). Defaults match the embedded stack that
``microcred infra up`` starts; outside ``development`` the development secrets are refused.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

COMMON_PREFIX = "MICROCRED_"

#: Secrets the embedded stack uses; refused outside development.
DEVELOPMENT_S3_ACCESS_KEY = "microcred"
DEVELOPMENT_S3_SECRET_KEY = "microcred-dev-secret"  # noqa: S105 - the embedded stack's own


class ServiceSettings(BaseSettings):
    """Connection and runtime settings shared by all services; subclasses add their own."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    #: Name of the service, also its Kafka client id and consumer group (set by subclasses).
    service_name: str = "microcred"

    environment: Literal["development", "test", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["console", "json"] = "console"

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    public_url: str = Field(default="", description="Base URL users reach this service at.")
    trusted_proxies: str = Field(
        default="127.0.0.1",
        description=(
            "Addresses (comma-separated, or *) of reverse proxies whose X-Forwarded-For names "
            "the client; the claim pages throttle by client address."
        ),
    )

    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_metadata_max_age_ms: int = Field(
        default=300_000,
        ge=100,
        description="How often clients refresh metadata (how soon new topics are seen).",
    )

    kafka_consumers_per_topic: int = Field(
        default=1,
        ge=1,
        le=32,
        description=(
            "Consumers of each subscribed topic in this process, sharing its partitions: records "
            "of one partition are still handled one at a time, in order, while those of others "
            "go on meanwhile. More than the topic's partitions leaves the extra ones idle."
        ),
    )

    metrics_lag_interval_seconds: float = Field(
        default=15.0,
        gt=0,
        description="How often the consumer lag metric is measured (one admin round per topic).",
    )

    mongodb_uri: SecretStr = SecretStr("mongodb://127.0.0.1:27517/?retryWrites=false")
    mongodb_database: str = ""

    outbox_relay_interval_seconds: float = Field(default=2.0, gt=0)
    jwks_url: str = Field(
        default="http://127.0.0.1:8001/.well-known/jwks.json",
        description="Intake's key set, which verifies callers' access tokens.",
    )
    consumer_group: str = Field(default="", description="Default: microcred-<service>.")

    @model_validator(mode="after")
    def _defaults(self) -> Self:
        if not self.mongodb_database:
            object.__setattr__(self, "mongodb_database", f"microcred_{self.service_name}")
        if not self.consumer_group:
            object.__setattr__(self, "consumer_group", f"microcred-{self.service_name}")
        if not self.public_url:
            object.__setattr__(self, "public_url", f"http://{self.http_host}:{self.http_port}")
        return self

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The service's own prefix wins over the platform-wide one.
        common = EnvSettingsSource(settings_cls, env_prefix=COMMON_PREFIX)
        return (init_settings, env_settings, common, dotenv_settings, file_secret_settings)


def aes_key(name: str, value: SecretStr, development_value: str, production: bool) -> bytes:
    """Decode a base64 AES-256 key setting, refusing a malformed or (in production) known one."""
    try:
        raw = base64.b64decode(value.get_secret_value(), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{name} is not base64") from exc
    if len(raw) != 32:  # noqa: PLR2004 - AES-256
        raise ValueError(f"{name} must decode to 32 bytes")
    if production and value.get_secret_value() == development_value:
        raise ValueError(f"{name} is the development key; set a real one")
    return raw


class S3Settings(BaseSettings):
    """Mixin for services that keep objects in S3-compatible storage."""

    s3_endpoint_url: str | None = "http://127.0.0.1:18333"
    s3_region: str = "us-east-1"
    s3_access_key: str = DEVELOPMENT_S3_ACCESS_KEY
    s3_secret_key: SecretStr = SecretStr(DEVELOPMENT_S3_SECRET_KEY)
    s3_bucket: str = "microcred-evidence"
    s3_addressing_style: Literal["path", "virtual", "auto"] = "path"

    @model_validator(mode="after")
    def _no_development_secret_in_production(self) -> Self:
        if (
            getattr(self, "environment", "development") == "production"
            and self.s3_secret_key.get_secret_value() == DEVELOPMENT_S3_SECRET_KEY
        ):
            raise ValueError("s3_secret_key is the development secret; set a real one")
        return self


class SmtpSettings(BaseSettings):
    """Mixin for services that send email."""

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=18025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    mail_from: str = "microcred <no-reply@microcred.localhost>"
