from pydantic import Field
from pydantic_settings import SettingsConfigDict

from microcred_shared.settings import ServiceSettings


class ReviewSettings(ServiceSettings):
    """Settings of review; variables ``MICROCRED_REVIEW_*``, then ``MICROCRED_*``."""

    model_config = SettingsConfigDict(env_prefix="MICROCRED_REVIEW_", extra="ignore", frozen=True)

    service_name: str = "review"
    http_port: int = Field(default=8002, ge=1, le=65535)
    # New institutions' request and decision topics are found by pattern subscriptions at the
    # next metadata refresh: a short interval keeps the first review of an institution prompt.
    kafka_metadata_max_age_ms: int = Field(default=3_000, ge=100)
    review_topic_partitions: int = Field(
        default=3, ge=1, description="Partitions of each institution's review topics."
    )
    review_topic_replication_factor: int = Field(
        default=1,
        ge=1,
        description="Replicas of each institution's review topics (3 in production).",
    )
