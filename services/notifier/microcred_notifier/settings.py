from pydantic import Field
from pydantic_settings import SettingsConfigDict

from microcred_shared.settings import ServiceSettings, SmtpSettings


class NotifierSettings(SmtpSettings, ServiceSettings):
    """Settings of the notifier; variables ``MICROCRED_NOTIFIER_*``, then ``MICROCRED_*``."""

    model_config = SettingsConfigDict(env_prefix="MICROCRED_NOTIFIER_", extra="ignore", frozen=True)

    service_name: str = "notifier"
    http_port: int = Field(default=8005, ge=1, le=65535)
    claim_valid_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description="How long a claim link works, unless set per institution.",
    )
    intake_url: str = Field(
        default="http://127.0.0.1:8001",
        description="Intake's public URL, where learners sign in (wallet, account check).",
    )
    issuer_url: str = Field(
        default="http://127.0.0.1:8004",
        description="The issuer, called for live verification, badge images and PDF certificates.",
    )
    issuer_public_url: str = Field(
        default="", description="The issuer as browsers reach it, if not at issuer_url."
    )
    verdict_cache_seconds: float = Field(
        default=30.0, ge=0, description="How long a share page reuses the issuer's verdict."
    )
    retry_first_seconds: float = Field(
        default=30.0, gt=0, description="Wait before retrying a temporary SMTP failure; doubles."
    )
    retry_longest_seconds: float = Field(default=3600.0, gt=0)
    delivery_deadline_hours: float = Field(
        default=72.0, gt=0, description="After this, a claim e-mail still failing is given up."
    )
    delivery_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often due retries and interrupted sends are picked up."
    )
    session_hours: float = Field(default=12.0, gt=0, description="Life of a wallet session.")
    token_failures_per_window: int = Field(
        default=20, ge=1, description="Wrong claim links or codes one address may try per window."
    )
    throttle_window_seconds: int = Field(default=600, ge=1)
    code_valid_minutes: int = Field(default=10, ge=1, le=60)
    code_attempts: int = Field(default=5, ge=1, le=20)
    resend_interval_seconds: float = Field(
        default=120.0, ge=0, description="Shortest time between two resends of one claim e-mail."
    )

    @property
    def sending_lease_seconds(self) -> float:
        """How long a send may take before another round may assume it died."""
        return self.smtp_timeout_seconds * 2 + 15
