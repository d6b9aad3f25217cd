from pydantic import Field
from pydantic_settings import SettingsConfigDict

from microcred_shared.settings import ServiceSettings


class AccountingSettings(ServiceSettings):
    """Settings of accounting; variables ``MICROCRED_ACCOUNTING_*``, then ``MICROCRED_*``."""

    model_config = SettingsConfigDict(
        env_prefix="MICROCRED_ACCOUNTING_", extra="ignore", frozen=True
    )

    service_name: str = "accounting"
    http_port: int = Field(default=8003, ge=1, le=65535)
