import base64
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from microcred_shared.settings import S3Settings, ServiceSettings, SmtpSettings, aes_key

#: Development values, refused in production.
DEVELOPMENT_SECRET_KEY = base64.b64encode(b"microcred-intake-development-key").decode()
DEVELOPMENT_ADMIN_PASSWORD = "microcred-admin-dev"  # noqa: S105 - the development value


class IntakeSettings(S3Settings, SmtpSettings, ServiceSettings):
    """Settings of intake; variables ``MICROCRED_INTAKE_*``, then ``MICROCRED_*``."""

    model_config = SettingsConfigDict(env_prefix="MICROCRED_INTAKE_", extra="ignore", frozen=True)

    service_name: str = "intake"
    http_port: int = Field(default=8001, ge=1, le=65535)
    max_file_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_files_per_evidence: int = Field(default=10, gt=0)

    secret_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SECRET_KEY),
        description="Base64 of 32 random bytes; seals intake's token-signing key at rest.",
    )
    access_token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    verification_hours: int = Field(default=48, ge=1)
    reset_minutes: int = Field(default=60, ge=5)
    login_attempts_per_15_minutes: int = Field(default=10, ge=1)
    resets_per_hour: int = Field(default=5, ge=1)

    issuer_url: str = Field(
        default="http://127.0.0.1:8004", description="Where learners' badge links point."
    )
    notifier_url: str = Field(
        default="http://127.0.0.1:8005",
        description="The notifier's public base URL: the learner's wallet, where the sign-in "
        "handoff (/auth/handoff) sends the browser and the dashboard's credential links point.",
    )
    review_url: str = Field(
        default="http://127.0.0.1:8002",
        description="Review's API, which the evaluators' pages call for the signed-in user.",
    )
    review_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    review_token_seconds: int = Field(
        default=120,
        ge=30,
        le=3600,
        description="Lifetime of the access tokens intake mints for its own calls to review.",
    )
    accounting_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Accounting's API, which the dashboard and the institution report call for "
        "the signed-in user.",
    )
    # Short: the dashboard waits for accounting before it falls back to intake's own records.
    accounting_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    accounting_token_seconds: int = Field(
        default=120,
        ge=30,
        le=3600,
        description="Lifetime of the access tokens intake mints for its own calls to accounting.",
    )

    first_admin_email: str = "admin@microcred.localhost"
    first_admin_password: SecretStr = SecretStr(DEVELOPMENT_ADMIN_PASSWORD)

    @field_validator("notifier_url")
    @classmethod
    def _notifier_url_is_a_base_url(cls, value: str) -> str:
        """An http(s) origin with an optional path: forms post there and the CSP names it."""
        parts = urlsplit(value)
        if (
            parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.username is not None
            or parts.query
            or parts.fragment
            or any(c.isspace() or c in "'\";,\\" for c in value)
        ):
            raise ValueError("must be an http(s) base URL, such as https://wallet.example.org")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _secrets_are_usable(self) -> Self:
        self.secret_key_bytes()
        if (
            self.production
            and self.first_admin_password.get_secret_value() == DEVELOPMENT_ADMIN_PASSWORD
        ):
            raise ValueError("first_admin_password is the development one; set a real one")
        return self

    def secret_key_bytes(self) -> bytes:
        return aes_key("secret_key", self.secret_key, DEVELOPMENT_SECRET_KEY, self.production)
