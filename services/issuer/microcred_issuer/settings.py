import base64
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from microcred_shared.settings import ServiceSettings, aes_key

#: The development master key (32 zero-free bytes); refused outside development and test.
DEVELOPMENT_MASTER_KEY = base64.b64encode(b"microcred-development-master-key").decode()


class IssuerSettings(ServiceSettings):
    """Settings of the issuer; variables ``MICROCRED_ISSUER_*``, then ``MICROCRED_*``."""

    model_config = SettingsConfigDict(env_prefix="MICROCRED_ISSUER_", extra="ignore", frozen=True)

    service_name: str = "issuer"
    http_port: int = Field(default=8004, ge=1, le=65535)
    # Signing is CPU and the rest of an award's handling is waiting for the database: a few
    # partitions at a time overlap the two (bench/scaling.py: 23 -> 28 credentials/s alone).
    kafka_consumers_per_topic: int = Field(
        default=3,
        ge=1,
        le=32,
        description="Consumers of each subscribed topic in this process (see ServiceSettings).",
    )
    master_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_MASTER_KEY),
        description=(
            "Base64 of 32 random bytes; encrypts the institutions' private keys, and keys the "
            "ids of credentials (derived with HKDF: unguessable without it)."
        ),
    )

    @model_validator(mode="after")
    def _master_key_is_usable(self) -> Self:
        self.master_key_bytes()
        return self

    def master_key_bytes(self) -> bytes:
        return aes_key("master_key", self.master_key, DEVELOPMENT_MASTER_KEY, self.production)
