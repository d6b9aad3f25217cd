"""Who connects to Kafka and how: one value for a principal's SASL credentials, for every client.

The embedded broker authenticates every client (SASL/SCRAM-SHA-512) and authorises it by ACLs
(see :mod:`microcred_shared.kafka_admin`). Three kinds of principal:

- ``microcred-admin``: the super user; the stack's own topic creation, ``microcred kafka``, the
  test helpers;
- ``microcred-platform``: what the five services connect as (``microcred.`` topics,
  ``microcred-`` consumer groups);
- ``reviewer-<institution>``: one institution's external review service (its own review topics
  and ``reviewer-<institution>:`` consumer groups, nothing else).

:class:`KafkaConnection` is also the one place that reads a settings class's ``kafka_*`` fields
(:meth:`KafkaConnection.from_settings`): aiokafka's keyword options and FastStream's security
object are both made from it.

This module does not need the admin client (confluent-kafka, an extra of the embedded stack), so
the services and the test helpers can use it anywhere.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from pydantic import SecretStr

ADMIN_USER = "microcred-admin"
PLATFORM_USER = "microcred-platform"
REVIEWER_USER_PREFIX = "reviewer-"

SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SaslProtocol = Literal["SASL_PLAINTEXT", "SASL_SSL"]
SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]

SCRAM_SHA_512: SaslMechanism = "SCRAM-SHA-512"


def reviewer_username(institution_id: str) -> str:
    """The principal of ``institution_id``'s external review service."""
    return f"{REVIEWER_USER_PREFIX}{institution_id}"


def reviewer_group_prefix(institution_id: str) -> str:
    """The prefix every consumer group of ``institution_id``'s review service must start with.

    It ends with ``:``, which no institution id holds, so that no institution's prefix is the
    beginning of another's (``reviewer-a.`` would be a prefix of ``reviewer-a.b.``).
    """
    return f"{reviewer_username(institution_id)}:"


@dataclass(frozen=True)
class KafkaCredentials:
    """A SASL principal's name and password (the password never appears in a repr)."""

    username: str
    password: str = field(repr=False)
    mechanism: SaslMechanism = SCRAM_SHA_512
    security_protocol: SaslProtocol = "SASL_PLAINTEXT"

    @property
    def principal(self) -> str:
        return f"User:{self.username}"


class KafkaClientSettings(Protocol):
    """The ``kafka_*`` fields of a settings class (``ServiceSettings``, the example reviewer's)."""

    @property
    def kafka_bootstrap_servers(self) -> str: ...

    @property
    def kafka_security_protocol(self) -> SecurityProtocol: ...

    @property
    def kafka_sasl_mechanism(self) -> SaslMechanism | None: ...

    @property
    def kafka_sasl_username(self) -> str | None: ...

    @property
    def kafka_sasl_password(self) -> SecretStr | None: ...


_FASTSTREAM_SASL: dict[SaslMechanism, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
    "PLAIN": SASLPlaintext,
    "SCRAM-SHA-256": SASLScram256,
    "SCRAM-SHA-512": SASLScram512,
}


@dataclass(frozen=True)
class KafkaConnection:
    """Where a Kafka cluster is and, when it authenticates clients, as whom to connect.

    ``tls`` is for a cluster that encrypts but does not authenticate (security protocol ``SSL``);
    with ``credentials``, their ``security_protocol`` says whether TLS is used.
    """

    bootstrap_servers: str
    credentials: KafkaCredentials | None = None
    tls: bool = False

    def __post_init__(self) -> None:
        if self.tls and self.credentials is not None:
            raise ValueError("with credentials, TLS is their security_protocol SASL_SSL, not tls")

    @classmethod
    def from_settings(cls, settings: KafkaClientSettings) -> KafkaConnection:
        """The connection a settings class's ``kafka_*`` fields describe.

        The SASL fields count only with ``SASL_PLAINTEXT`` or ``SASL_SSL``: under ``PLAINTEXT``
        and ``SSL`` (no authentication) they are not used. The mechanism defaults to ``PLAIN``, as
        in Kafka's clients; a SASL protocol without a user name and password is refused (no
        client could log in).
        """
        protocol = settings.kafka_security_protocol
        if protocol == "PLAINTEXT":
            return cls(settings.kafka_bootstrap_servers)
        if protocol == "SSL":
            return cls(settings.kafka_bootstrap_servers, tls=True)
        username = settings.kafka_sasl_username
        password = settings.kafka_sasl_password
        if username is None or password is None:
            raise ValueError(
                f"kafka_security_protocol {protocol} needs kafka_sasl_username and "
                "kafka_sasl_password"
            )
        credentials = KafkaCredentials(
            username,
            password.get_secret_value(),
            settings.kafka_sasl_mechanism or "PLAIN",
            protocol,
        )
        return cls(settings.kafka_bootstrap_servers, credentials)

    @property
    def security_protocol(self) -> SecurityProtocol:
        if self.credentials is not None:
            return self.credentials.security_protocol
        return "SSL" if self.tls else "PLAINTEXT"

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in {"SSL", "SASL_SSL"}

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers}
        if self.security_protocol != "PLAINTEXT":
            options["security_protocol"] = self.security_protocol
        credentials = self.credentials
        if credentials is not None:
            options.update(
                sasl_mechanism=credentials.mechanism,
                sasl_plain_username=credentials.username,
                sasl_plain_password=credentials.password,
            )
        if self.uses_tls:
            options["ssl_context"] = ssl.create_default_context()
        return options

    def faststream_security(self) -> BaseSecurity | None:
        """FastStream's security object for a ``KafkaBroker``: the same options as aiokafka's."""
        use_ssl = self.uses_tls
        context = ssl.create_default_context() if use_ssl else None
        credentials = self.credentials
        if credentials is None:
            return BaseSecurity(ssl_context=context, use_ssl=True) if use_ssl else None
        return _FASTSTREAM_SASL[credentials.mechanism](
            credentials.username, credentials.password, ssl_context=context, use_ssl=use_ssl
        )

    def _fields(self) -> dict[str, str]:
        """What a client needs to connect, by neutral names (the password in clear)."""
        fields = {"bootstrap": self.bootstrap_servers}
        if self.security_protocol != "PLAINTEXT":
            fields["protocol"] = self.security_protocol
        if self.credentials is not None:
            fields.update(
                mechanism=self.credentials.mechanism,
                username=self.credentials.username,
                password=self.credentials.password,
            )
        return fields

    def librdkafka_config(self) -> dict[str, str]:
        """Configuration of a librdkafka client (confluent-kafka's AdminClient)."""
        return {_LIBRDKAFKA_KEYS[k]: v for k, v in self._fields().items()}

    def settings_env(self) -> dict[str, str]:
        """``MICROCRED_KAFKA_*`` variables that make a service connect this way."""
        return {f"MICROCRED_{_SETTINGS_KEYS[k].upper()}": v for k, v in self._fields().items()}

    def settings_values(self) -> dict[str, object]:
        """The same as keyword arguments of a service's settings class."""
        values: dict[str, object] = {_SETTINGS_KEYS[k]: v for k, v in self._fields().items()}
        if "kafka_sasl_password" in values:
            values["kafka_sasl_password"] = SecretStr(str(values["kafka_sasl_password"]))
        return values


_LIBRDKAFKA_KEYS = {
    "bootstrap": "bootstrap.servers",
    "protocol": "security.protocol",
    "mechanism": "sasl.mechanism",
    "username": "sasl.username",
    "password": "sasl.password",
}
_SETTINGS_KEYS = {
    "bootstrap": "kafka_bootstrap_servers",
    "protocol": "kafka_security_protocol",
    "mechanism": "kafka_sasl_mechanism",
    "username": "kafka_sasl_username",
    "password": "kafka_sasl_password",
}
