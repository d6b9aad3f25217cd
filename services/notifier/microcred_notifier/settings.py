from pydantic import Field
from pydantic_settings import SettingsConfigDict

from microcred_shared.settings import ServiceSettings, SmtpSettings


class NotifierSettings(SmtpSettings, ServiceSettings):
    """Settings of the notifier; variables ``MICROCRED_NOTIFIER_*``, then ``MICROCRED_*``."""

    model_config = SettingsConfigDict(env_prefix="MICROCRED_NOTIFIER_", extra="ignore", frozen=True)

    service_name: str = "notifier"
    http_port: int = Field(default=8005, ge=1, le=65535)
    claim_valid_days: int = Field(default=30, ge=1, le=365)
