"""Kafka administration: topics, SCRAM users and ACLs, and external reviewers' credentials.

aiokafka's admin client has neither ACLs nor SCRAM users, so this module uses confluent-kafka's
``AdminClient`` (librdkafka), whose calls return futures that are awaited here. It is part of the
``embedded`` extra of microcred-shared: the operator's tools need it, the services do not.

The principals and what they may do (``allow.everyone.if.no.acl.found=false``: anything not
granted is refused):

- ``microcred-platform`` (the five services): topics with the prefix ``microcred.`` READ, WRITE,
  DESCRIBE, CREATE (the review service creates an institution's review topics when it first needs
  them); consumer groups with the prefix ``microcred-`` READ, DESCRIBE.
- ``reviewer-<institution>`` (one institution's external review service): its request topic READ,
  DESCRIBE; its decision topic WRITE, DESCRIBE; the dead letters of its decisions (the platform's
  refusals, with the reason) READ, DESCRIBE; consumer groups with the prefix
  ``reviewer-<institution>:`` READ, DESCRIBE. Nothing else: not another institution's topics, not
  the platform's shared topics, no topic creation.
- ``microcred-admin``: super user (the broker's configuration), so it has no ACLs.

:func:`set_acls` makes a principal's ACLs exactly the given set (it also removes any others), so
provisioning twice is harmless and leaves nothing stale behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, Self, TypeVar

from aiokafka.conn import create_conn
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from microcred_shared.contracts.topics import (
    dead_letter,
    institution_review_topics,
    review_decisions,
    review_requests,
)
from microcred_shared.kafka_auth import (
    PLATFORM_USER,
    KafkaConnection,
    KafkaCredentials,
    SaslMechanism,
    SaslProtocol,
    reviewer_group_prefix,
    reviewer_username,
)

T = TypeVar("T")

#: SCRAM's PBKDF2 rounds for the users made here (Kafka accepts 4096 to 16384).
SCRAM_ITERATIONS = 8192
#: How long a request, and the wait for its effect to reach the broker, may take.
DEFAULT_TIMEOUT_SECONDS = 30.0
#: The institution ids the review contract accepts (as the events' ``tenant``).
INSTITUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

ResourceKind = Literal["TOPIC", "GROUP"]
PatternKind = Literal["LITERAL", "PREFIXED"]
Operation = Literal["READ", "WRITE", "DESCRIBE", "CREATE"]


class KafkaAdminError(RuntimeError):
    """An administrative request failed; the message says which and why."""


@dataclass(frozen=True)
class AclGrant:
    """ALLOW ``operations`` on the resources ``pattern`` ``name`` of kind ``resource`` names."""

    resource: ResourceKind
    pattern: PatternKind
    name: str
    operations: tuple[Operation, ...]

    def bindings(self, principal: str) -> list[AclBinding]:
        return [
            AclBinding(
                ResourceType[self.resource],
                self.name,
                ResourcePatternType[self.pattern],
                principal,
                "*",
                AclOperation[operation],
                AclPermissionType.ALLOW,
            )
            for operation in self.operations
        ]


#: What the five services need: every ``microcred.`` topic, every ``microcred-`` group.
PLATFORM_GRANTS: tuple[AclGrant, ...] = (
    AclGrant("TOPIC", "PREFIXED", "microcred.", ("READ", "WRITE", "DESCRIBE", "CREATE")),
    AclGrant("GROUP", "PREFIXED", "microcred-", ("READ", "DESCRIBE")),
)


def reviewer_grants(institution_id: str) -> tuple[AclGrant, ...]:
    """What ``institution_id``'s external review service may do, and nothing more."""
    requests, decisions = review_requests(institution_id), review_decisions(institution_id)
    refused = dead_letter(decisions)
    return (
        AclGrant("TOPIC", "LITERAL", requests, ("READ", "DESCRIBE")),
        AclGrant("TOPIC", "LITERAL", decisions, ("WRITE", "DESCRIBE")),
        AclGrant("TOPIC", "LITERAL", refused, ("READ", "DESCRIBE")),
        AclGrant("GROUP", "PREFIXED", reviewer_group_prefix(institution_id), ("READ", "DESCRIBE")),
    )


AclKey = tuple[str, str, str, str, str, str, str]

#: In a filter, "any value" of a name, principal or host (documented; typed as ``str``).
ANY_VALUE: Any = None


def _name(value: Enum | str | int) -> str:
    return value.name if isinstance(value, Enum) else str(value)


def _key(binding: AclBinding) -> AclKey:
    return (
        _name(binding.restype),
        binding.name,
        _name(binding.resource_pattern_type),
        binding.principal,
        binding.host,
        _name(binding.operation),
        _name(binding.permission_type),
    )


def _principal_filter(principal: str | None, resource: str = "ANY") -> AclBindingFilter:
    return AclBindingFilter(
        ResourceType[resource],
        ANY_VALUE,
        ResourcePatternType.ANY,
        ANY_VALUE if principal is None else principal,
        ANY_VALUE,
        AclOperation.ANY,
        AclPermissionType.ANY,
    )


def _exact_filter(binding: AclBinding) -> AclBindingFilter:
    return AclBindingFilter(
        binding.restype,
        binding.name,
        binding.resource_pattern_type,
        binding.principal,
        binding.host,
        binding.operation,
        binding.permission_type,
    )


async def wait_until(
    what: str,
    check: Callable[[], Awaitable[bool]],
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    interval: float = 0.1,
) -> None:
    """Await ``check()`` until it answers True; raise ``KafkaAdminError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            if await check():
                return
        except Exception as exc:  # noqa: BLE001 - not yet; the last one is reported
            last = exc
        if time.monotonic() >= deadline:
            reason = f": {last}" if last is not None else ""
            raise KafkaAdminError(f"{what} did not happen within {timeout:.0f}s{reason}")
        await asyncio.sleep(interval)


async def authenticates(connection: KafkaConnection, timeout: float = 5.0) -> bool:
    """Whether the broker accepts ``connection``'s credentials (one connection, then closed).

    Raises aiokafka's ``SaslAuthenticationFailed`` when it refuses them.
    """
    host, _, port = connection.bootstrap_servers.split(",")[0].strip().rpartition(":")
    options = connection.aiokafka_options()
    options.pop("bootstrap_servers")
    conn = await create_conn(
        host.strip("[]"), int(port), request_timeout_ms=int(timeout * 1000), **options
    )
    conn.close()
    return True


class KafkaAdmin:
    """An admin connection to one cluster: confluent-kafka's ``AdminClient``, awaited.

    Use it as ``async with KafkaAdmin(connection) as admin:``, or ``await admin.close()``.
    """

    def __init__(
        self, connection: KafkaConnection, *, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self.connection = connection
        self.timeout = timeout
        self._client = AdminClient(
            {**connection.librdkafka_config(), "socket.timeout.ms": int(timeout * 1000)}
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client's connections and threads (the client cannot be used after)."""
        await asyncio.to_thread(self._client.__exit__, None, None, None)

    async def _result(self, future: concurrent.futures.Future[T], what: str) -> T:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except KafkaException as exc:
            raise KafkaAdminError(f"{what}: {exc.args[0].str()}") from exc
        except TimeoutError as exc:
            raise KafkaAdminError(
                f"{what}: no answer from {self.connection.bootstrap_servers} "
                f"within {self.timeout:.0f}s"
            ) from exc

    async def ensure_topics(
        self, names: Iterable[str], *, partitions: int = -1, replication_factor: int = -1
    ) -> list[str]:
        """Create the topics that do not exist yet; -1 takes the broker's default.

        Returns the names created by this call.
        """
        wanted = sorted(set(names))
        if not wanted:
            return []
        futures = self._client.create_topics(
            [NewTopic(name, partitions, replication_factor) for name in wanted],
            request_timeout=self.timeout,
        )
        created = []
        for name, future in futures.items():
            try:
                await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
            except KafkaException as exc:
                # Idempotent: another process (or an earlier run) may have made it.
                if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise KafkaAdminError(f"creating topic {name}: {exc.args[0].str()}") from exc
            created.append(name)
        return created

    async def upsert_scram_user(
        self, credentials: KafkaCredentials, *, iterations: int = SCRAM_ITERATIONS
    ) -> None:
        """Create the SCRAM user, or give it this password; wait until the broker takes it."""
        mechanism = ScramMechanism[credentials.mechanism.replace("-", "_")]
        futures = self._client.alter_user_scram_credentials(
            [
                UserScramCredentialUpsertion(
                    credentials.username,
                    ScramCredentialInfo(mechanism, iterations),
                    credentials.password.encode(),
                )
            ],
            request_timeout=self.timeout,
        )
        for future in futures.values():
            await self._result(future, f"setting the password of {credentials.username}")
        # The controller has it; wait until the broker that clients reach authenticates with it.
        await wait_until(
            f"the broker accepting {credentials.username}'s new password",
            lambda: authenticates(KafkaConnection(self.connection.bootstrap_servers, credentials)),
            self.timeout,
        )

    async def delete_scram_user(self, username: str, mechanism: str) -> None:
        """Remove the user's SCRAM credential (new logins fail; a user already gone is fine)."""
        futures = self._client.alter_user_scram_credentials(
            [UserScramCredentialDeletion(username, ScramMechanism[mechanism.replace("-", "_")])],
            request_timeout=self.timeout,
        )
        for future in futures.values():
            try:
                await self._result(future, f"removing the user {username}")
            except KafkaAdminError as exc:
                cause = exc.__cause__
                if not (
                    isinstance(cause, KafkaException)
                    and cause.args[0].code() == KafkaError.RESOURCE_NOT_FOUND
                ):
                    raise

    async def acls(self, principal: str | None = None, resource: str = "ANY") -> list[AclBinding]:
        """The ACLs of ``principal`` (every principal's if None) on resources of that kind."""
        future = self._client.describe_acls(
            _principal_filter(principal, resource), request_timeout=self.timeout
        )
        found: list[AclBinding] = await self._result(future, "listing ACLs")
        return found

    async def granted(self, username: str) -> set[tuple[str, str, str, str]]:
        """What ``username`` is allowed, as (resource, pattern, name, operation)."""
        return {
            (resource, pattern, name, operation)
            for resource, name, pattern, _, _, operation, permission in map(
                _key, await self.acls(f"User:{username}")
            )
            if permission == "ALLOW"
        }

    async def set_acls(self, username: str, grants: Sequence[AclGrant]) -> None:
        """Make ``username``'s ACLs exactly ``grants``: add what is missing, remove the rest."""
        principal = f"User:{username}"
        wanted = {_key(b): b for grant in grants for b in grant.bindings(principal)}
        existing = {_key(b): b for b in await self.acls(principal)}
        missing = [b for key, b in wanted.items() if key not in existing]
        extra = [b for key, b in existing.items() if key not in wanted]
        if missing:
            created = self._client.create_acls(missing, request_timeout=self.timeout)
            for binding, future in created.items():
                await self._result(future, f"granting {binding}")
        if extra:
            deleted = self._client.delete_acls(
                [_exact_filter(b) for b in extra], request_timeout=self.timeout
            )
            for binding_filter, future in deleted.items():
                await self._result(future, f"removing {binding_filter}")
        if missing or extra:
            # The controller has them; the broker's authorizer learns them from the metadata log.
            async def applied() -> bool:
                return {_key(b) for b in await self.acls(principal)} == set(wanted)

            await wait_until(f"the broker applying {principal}'s ACLs", applied, self.timeout)


async def ensure_platform_principal(
    admin: KafkaConnection, credentials: KafkaCredentials, *, timeout: float = 30.0
) -> None:
    """The services' principal with its password and exactly its ACLs (idempotent)."""
    if credentials.username != PLATFORM_USER:
        raise ValueError(f"the platform's principal is {PLATFORM_USER}")
    async with KafkaAdmin(admin, timeout=timeout) as client:
        await client.upsert_scram_user(credentials)
        await client.set_acls(credentials.username, PLATFORM_GRANTS)


@dataclass(frozen=True)
class ReviewerCredentials:
    """What an institution's external review service needs to connect, and where it may go."""

    institution_id: str
    username: str
    password: str = field(repr=False)
    bootstrap_servers: str
    security_protocol: SaslProtocol
    sasl_mechanism: SaslMechanism
    requests_topic: str
    decisions_topic: str
    decisions_dead_letter_topic: str
    consumer_group_prefix: str

    @property
    def credentials(self) -> KafkaCredentials:
        return KafkaCredentials(
            self.username, self.password, self.sasl_mechanism, self.security_protocol
        )

    def connection(self) -> KafkaConnection:
        return KafkaConnection(self.bootstrap_servers, self.credentials)

    def to_json(self) -> dict[str, Any]:
        return {
            "institution_id": self.institution_id,
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "username": self.username,
            "password": self.password,
            "topics": {
                "requests": self.requests_topic,
                "decisions": self.decisions_topic,
                "decisions_dead_letter": self.decisions_dead_letter_topic,
            },
            "consumer_group_prefix": self.consumer_group_prefix,
        }


def check_institution_id(institution_id: str) -> None:
    if not INSTITUTION_ID.fullmatch(institution_id):
        raise ValueError(
            f"{institution_id!r} is not an institution id (letters, digits, '.', '_', '-'; "
            "starting with a letter or digit; at most 64 characters)"
        )


async def provision_external_reviewer(
    admin: KafkaConnection,
    institution_id: str,
    *,
    bootstrap_servers: str | None = None,
    password: str | None = None,
    partitions: int = -1,
    replication_factor: int = -1,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> ReviewerCredentials:
    """Give ``institution_id``'s external review service a principal, its topics and its ACLs.

    Creates the institution's review topics (if missing), the SCRAM user
    ``reviewer-<institution>`` with a new password (the previous one, if any, stops working),
    and sets its ACLs to exactly :func:`reviewer_grants`. ``bootstrap_servers`` is what the
    reviewer is told to connect to (default: the admin connection's).
    """
    check_institution_id(institution_id)
    if admin.credentials is None:
        raise KafkaAdminError(
            f"the cluster at {admin.bootstrap_servers} is reached without SASL: an external "
            "reviewer's credentials need a broker that authenticates its clients"
        )
    requests, decisions = review_requests(institution_id), review_decisions(institution_id)
    refused = dead_letter(decisions)
    credentials = KafkaCredentials(
        reviewer_username(institution_id),
        password or secrets.token_urlsafe(32),
        admin.credentials.mechanism,
        admin.credentials.security_protocol,
    )
    async with KafkaAdmin(admin, timeout=timeout) as client:
        # Every topic of the institution's review contract, whether or not its reviewer uses it.
        await client.ensure_topics(
            {requests, decisions, refused, *institution_review_topics(institution_id)},
            partitions=partitions,
            replication_factor=replication_factor,
        )
        await client.set_acls(credentials.username, reviewer_grants(institution_id))
        await client.upsert_scram_user(credentials)
    return ReviewerCredentials(
        institution_id=institution_id,
        username=credentials.username,
        password=credentials.password,
        bootstrap_servers=bootstrap_servers or admin.bootstrap_servers,
        security_protocol=credentials.security_protocol,
        sasl_mechanism=credentials.mechanism,
        requests_topic=requests,
        decisions_topic=decisions,
        decisions_dead_letter_topic=refused,
        consumer_group_prefix=reviewer_group_prefix(institution_id),
    )


async def revoke_external_reviewer(
    admin: KafkaConnection, institution_id: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> str:
    """Take back everything ``institution_id``'s reviewer was given: its ACLs and its login.

    The institution's topics stay (the platform keeps using them); return the username.
    """
    check_institution_id(institution_id)
    if admin.credentials is None:
        raise KafkaAdminError(f"the cluster at {admin.bootstrap_servers} has no SASL users")
    username = reviewer_username(institution_id)
    async with KafkaAdmin(admin, timeout=timeout) as client:
        await client.set_acls(username, ())
        await client.delete_scram_user(username, admin.credentials.mechanism)
    return username


class KafkaAdminSettings(BaseSettings):
    """An admin connection to any Kafka, from ``MICROCRED_KAFKA_ADMIN_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="MICROCRED_KAFKA_ADMIN_", extra="ignore")

    bootstrap_servers: str | None = None
    security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"] = "SASL_PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None

    def connection(self) -> KafkaConnection | None:
        """The connection they name, or None when ``_BOOTSTRAP_SERVERS`` is not set."""
        if not self.bootstrap_servers:
            return None
        if self.security_protocol == "PLAINTEXT":
            return KafkaConnection(self.bootstrap_servers)
        if not self.sasl_username or self.sasl_password is None:
            raise ValueError(
                "MICROCRED_KAFKA_ADMIN_SASL_USERNAME and _SASL_PASSWORD are needed with "
                f"MICROCRED_KAFKA_ADMIN_SECURITY_PROTOCOL={self.security_protocol}"
            )
        return KafkaConnection(
            self.bootstrap_servers,
            KafkaCredentials(
                self.sasl_username,
                self.sasl_password.get_secret_value(),
                self.sasl_mechanism,
                self.security_protocol,
            ),
        )
