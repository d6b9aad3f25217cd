"""Settings: a prefix per service over a platform-wide one; no development secret in production."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from microcred_intake.settings import IntakeSettings
from microcred_review.settings import ReviewSettings

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
