from pydantic import Field
from pydantic_settings import SettingsConfigDict

from microcred_shared.settings import S3Settings, ServiceSettings


class IntakeSettings(S3Settings, ServiceSettings):
    """Settings of intake; variables ``MICROCRED_INTAKE_*``, then ``MICROCRED_*``."""

    model_config = SettingsConfigDict(env_prefix="MICROCRED_INTAKE_", extra="ignore", frozen=True)

    service_name: str = "intake"
    http_port: int = Field(default=8001, ge=1, le=65535)
    max_file_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    max_files_per_evidence: int = Field(default=10, gt=0)
