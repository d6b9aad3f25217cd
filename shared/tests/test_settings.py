"""Settings: a prefix per service over a platform-wide one; no development secret in production."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from microcred_intake.settings import IntakeSettings
from microcred_review.settings import ReviewSettings
from microcred_shared import entrypoint

pytestmark = pytest.mark.unit


def test_service_prefix_wins_over_the_platform_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROCRED_MONGODB_URI", "mongodb://shared-db:27017")
    monkeypatch.setenv("MICROCRED_REVIEW_MONGODB_URI", "mongodb://review-db:27017")
    monkeypatch.setenv("MICROCRED_KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")

    review, intake = ReviewSettings(), IntakeSettings()

    assert review.mongodb_uri.get_secret_value() == "mongodb://review-db:27017"
    assert intake.mongodb_uri.get_secret_value() == "mongodb://shared-db:27017"
    assert (
        review.kafka_bootstrap_servers
        == intake.kafka_bootstrap_servers
        == ("kafka-1:9092,kafka-2:9092")
    )
    assert review.mongodb_database == "microcred_review"
    assert intake.http_port == 8001


def test_production_refuses_the_development_s3_secret() -> None:
    with pytest.raises(ValueError, match="development secret"):
        IntakeSettings(environment="production")
    with pytest.raises(ValueError, match="secret_key is the development key"):
        IntakeSettings(environment="production", s3_secret_key=SecretStr("a-real-secret"))
    with pytest.raises(ValueError, match="first_admin_password is the development one"):
        IntakeSettings(
            environment="production",
            s3_secret_key=SecretStr("a-real-secret"),
            secret_key=SecretStr(base64.b64encode(b"k" * 32).decode()),
        )
    IntakeSettings(
        environment="production",
        s3_secret_key=SecretStr("a-real-secret"),
        secret_key=SecretStr(base64.b64encode(b"k" * 32).decode()),
        first_admin_password=SecretStr("a-real-admin-password"),
    )


def test_secrets_do_not_show_in_reprs() -> None:
    settings = IntakeSettings(s3_secret_key=SecretStr("hunter2-secret"))
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_services_trust_forwarded_addresses_only_from_the_named_proxies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Behind a reverse proxy the claim pages must throttle each client, not the proxy."""
    served: dict[str, Any] = {}

    def run(_app: FastAPI, **options: Any) -> None:
        served.update(options)

    monkeypatch.setattr("microcred_shared.entrypoint.uvicorn.run", run)
    monkeypatch.setenv("MICROCRED_REVIEW_TRUSTED_PROXIES", "10.0.0.5,10.0.0.6")
    entrypoint.serve(ReviewSettings(), lambda _settings: FastAPI())
    assert served["proxy_headers"] is True
    assert served["forwarded_allow_ips"] == "10.0.0.5,10.0.0.6"
    assert IntakeSettings().trusted_proxies == "127.0.0.1"  # uvicorn's own default
