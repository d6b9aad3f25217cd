import base64
import binascii
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from microcred_shared.settings import ServiceSettings

#: The development master key (32 zero-free bytes); refused outside development and test.
DEVELOPMENT_MASTER_KEY = base64.b64encode(b"microcred-development-master-key").decode()


class IssuerSettings(ServiceSettings):
    """Settings of the issuer; variables ``MICROCRED_ISSUER_*``, then ``MICROCRED_*``."""

    model_config = SettingsConfigDict(env_prefix="MICROCRED_ISSUER_", extra="ignore", frozen=True)

    service_name: str = "issuer"
    http_port: int = Field(default=8004, ge=1, le=65535)
    master_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_MASTER_KEY),
        description="Base64 of 32 random bytes; encrypts the institutions' private keys.",
    )

    @model_validator(mode="after")
    def _master_key_is_usable(self) -> Self:
        try:
            raw = base64.b64decode(self.master_key.get_secret_value(), validate=True)
        except binascii.Error as exc:
            raise ValueError("master_key is not base64") from exc
        if len(raw) != 32:  # noqa: PLR2004 - AES-256
            raise ValueError("master_key must decode to 32 bytes")
        if self.production and self.master_key.get_secret_value() == DEVELOPMENT_MASTER_KEY:
            raise ValueError("master_key is the development key; set a real one")
        return self

    def master_key_bytes(self) -> bytes:
        return base64.b64decode(self.master_key.get_secret_value())
