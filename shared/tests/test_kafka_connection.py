"""One source for Kafka client options: settings → KafkaConnection → aiokafka and FastStream."""

from __future__ import annotations

import ssl
from typing import Any

import pytest
from faststream.kafka.security import parse_security

from microcred_shared.conformance.review import kafka_client_options
from microcred_shared.kafka_auth import KafkaConnection, KafkaCredentials
from microcred_shared.settings import ServiceSettings

pytestmark = pytest.mark.unit

SERVERS = "kafka-1:9092,kafka-2:9092"


def settings(protocol: str, mechanism: str | None = None, **more: Any) -> ServiceSettings:
    if mechanism is not None:
        more = {"kafka_sasl_username": "alice", "kafka_sasl_password": "s3cret", **more}
    return ServiceSettings.model_validate(
        {
            "kafka_bootstrap_servers": SERVERS,
            "kafka_security_protocol": protocol,
            "kafka_sasl_mechanism": mechanism,
            **more,
        }
    )


def comparable(options: dict[str, Any]) -> dict[str, Any]:
    """The options with the (fresh every time) TLS context replaced by whether there is one."""
    shown = {k: v for k, v in options.items() if k != "ssl_context"}
    shown["tls"] = isinstance(options.get("ssl_context"), ssl.SSLContext)
    return shown


VALID = [
    ("PLAINTEXT", None),
    ("SSL", None),
    *[
        (protocol, mechanism)
        for protocol in ("SASL_PLAINTEXT", "SASL_SSL")
        for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    ],
]


@pytest.mark.parametrize(("protocol", "mechanism"), VALID)
def test_aiokafka_and_faststream_get_the_same_options(protocol: str, mechanism: str | None) -> None:
    connection = KafkaConnection.from_settings(settings(protocol, mechanism))
    options = connection.aiokafka_options()

    assert options["bootstrap_servers"] == SERVERS
    assert options.get("security_protocol", "PLAINTEXT") == protocol
    # FastStream hands aiokafka exactly these (PLAINTEXT: no security object, aiokafka's default).
    security = comparable({"security_protocol": "PLAINTEXT"} | options)
    del security["bootstrap_servers"]
    faststream = connection.faststream_security()
    if protocol == "PLAINTEXT":
        assert faststream is None
    else:
        assert comparable(parse_security(faststream)) == security


def test_sasl_options_are_what_the_services_always_sent() -> None:
    options = KafkaConnection.from_settings(
        settings("SASL_SSL", "SCRAM-SHA-512")
    ).aiokafka_options()

    assert comparable(options) == {
        "bootstrap_servers": SERVERS,
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice",
        "sasl_plain_password": "s3cret",
        "tls": True,
    }
    assert "s3cret" not in repr(KafkaConnection.from_settings(settings("SASL_SSL", "PLAIN")))


def test_sasl_settings_are_unused_without_a_sasl_protocol() -> None:
    for protocol in ("PLAINTEXT", "SSL"):
        connection = KafkaConnection.from_settings(settings(protocol, "SCRAM-SHA-512"))
        assert connection.credentials is None
        assert "sasl_plain_password" not in connection.aiokafka_options()


def test_sasl_defaults_to_plain_and_needs_a_user_and_password() -> None:
    connection = KafkaConnection.from_settings(
        settings("SASL_PLAINTEXT", kafka_sasl_username="alice", kafka_sasl_password="s3cret")
    )
    assert connection.credentials == KafkaCredentials("alice", "s3cret", "PLAIN")
    with pytest.raises(ValueError, match="needs kafka_sasl_username and kafka_sasl_password"):
        KafkaConnection.from_settings(settings("SASL_PLAINTEXT"))
    with pytest.raises(ValueError, match="needs kafka_sasl_username and kafka_sasl_password"):
        KafkaConnection.from_settings(settings("SASL_SSL", "PLAIN", kafka_sasl_password=None))


@pytest.mark.parametrize(
    "connection",
    [
        KafkaConnection(SERVERS),
        KafkaConnection(SERVERS, tls=True),
        KafkaConnection(SERVERS, KafkaCredentials("bob", "pw")),
        KafkaConnection(SERVERS, KafkaCredentials("bob", "pw", "PLAIN", "SASL_SSL")),
    ],
)
def test_a_connection_survives_the_trip_through_settings(connection: KafkaConnection) -> None:
    again = ServiceSettings.model_validate(connection.settings_values())
    assert KafkaConnection.from_settings(again) == connection


def test_the_conformance_kit_connects_as_the_settings_say() -> None:
    given = settings("SASL_PLAINTEXT", "SCRAM-SHA-256", service_name="conformance-kit")
    options = kafka_client_options(given)

    assert options == KafkaConnection.from_settings(given).aiokafka_options() | {
        "client_id": "microcred-conformance-kit"
    }


def test_tls_belongs_to_the_credentials_when_there_are_some() -> None:
    with pytest.raises(ValueError, match="SASL_SSL"):
        KafkaConnection(SERVERS, KafkaCredentials("bob", "pw"), tls=True)
    assert KafkaConnection(SERVERS, tls=True).settings_values()["kafka_security_protocol"] == "SSL"
