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
    unknown_evidence_grace_seconds: float = Field(
        default=600,
        gt=0,
        description=(
            "How long a decision on evidence not seen filed waits for it before it is "
            "dead-lettered (a decision may overtake its evidence by moments)."
        ),
    )
    parked_sweep_interval_seconds: float = Field(default=30, gt=0)
