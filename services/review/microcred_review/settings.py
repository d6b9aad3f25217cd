from pydantic import Field
from pydantic_settings import SettingsConfigDict

from microcred_shared.settings import ServiceSettings


class ReviewSettings(ServiceSettings):
    """Settings of review; variables ``MICROCRED_REVIEW_*``, then ``MICROCRED_*``."""

    model_config = SettingsConfigDict(env_prefix="MICROCRED_REVIEW_", extra="ignore", frozen=True)

    service_name: str = "review"
    http_port: int = Field(default=8002, ge=1, le=65535)
