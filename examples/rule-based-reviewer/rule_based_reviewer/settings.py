"""The reviewer's settings, from ``REVIEWER_*`` environment variables."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from microcred_shared.contracts.envelope import Identifier, InstitutionId
from microcred_shared.kafka_auth import reviewer_group_prefix


class ReviewerSettings(BaseSettings):
    """Who the reviewer decides for, where Kafka is, and which providers it trusts.

    ``REVIEWER_INSTITUTION_ID`` is required; ``REVIEWER_KAFKA_*`` are what ``microcred kafka
    reviewer`` hands out; ``REVIEWER_TRUSTED_PROVIDERS`` is a comma-separated list.
    """

    model_config = SettingsConfigDict(env_prefix="REVIEWER_", extra="ignore", frozen=True)

    institution_id: InstitutionId = Field(description="The institution this reviewer decides for.")
    kafka_bootstrap_servers: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    trusted_providers: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Providers whose evidence is approved in full (case and spacing ignored).",
    )
    consumer_group: str = Field(
        default="", description="Default: reviewer-<institution>:rule-based-reviewer."
    )
    reviewer_id: Identifier = Field(
        default="rule-based-reviewer", description="Named in every decision as who decided."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("trusted_providers", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @model_validator(mode="after")
    def _group_of_the_institution(self) -> Self:
        prefix = reviewer_group_prefix(self.institution_id)
        if not self.consumer_group:
            object.__setattr__(self, "consumer_group", f"{prefix}rule-based-reviewer")
        elif not self.consumer_group.startswith(prefix):
            # The broker's ACLs let the institution's principal use these groups only.
            raise ValueError(f"consumer_group must start with {prefix!r}")
        if self.kafka_sasl_mechanism is not None and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError("SASL needs REVIEWER_KAFKA_SASL_USERNAME and _SASL_PASSWORD")
        return self
