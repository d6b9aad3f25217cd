"""The embedded broker's secrets and the security half of its configuration.

Every listener authenticates:

- the client listener (``BROKER``, also the inter-broker one) takes SASL/SCRAM-SHA-512; the broker
  itself talks on it as ``microcred-admin``;
- the controller listener (``CONTROLLER``) takes SASL/PLAIN with a password of its own, known only
  to the broker's configuration. SCRAM cannot secure it: SCRAM credentials live in the metadata
  log, which the controller serves, so the quorum would need itself to log in. PLAIN's users are
  listed in the JAAS configuration instead, so they exist before any metadata does.

``StandardAuthorizer`` checks every request against the ACLs, and a resource without ACLs is
refused (``allow.everyone.if.no.acl.found=false``). The super users are the admin and the
controller's own principal (the broker's registration and heartbeats to the controller need
``CLUSTER_ACTION``, and the controller listener starts before the ACLs are loaded, when only super
users pass).

The passwords are made on the first start with :mod:`secrets`, kept in
``<data>/kafka-secrets.json`` (mode 0600) and reused on every restart; the admin's SCRAM
credential is written into the metadata log when the storage is formatted
(``kafka-storage format --add-scram``), from a salt and salted password computed here so that the
password never appears on a command line. The broker's configuration file, which holds the JAAS
passwords, is written with mode 0600 too. Nothing here logs a password.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from microcred_shared.kafka_auth import ADMIN_USER, PLATFORM_USER, SCRAM_SHA_512, KafkaCredentials

KAFKA_SECRETS_FILE = "kafka-secrets.json"
#: The principal the broker uses on the controller listener (PLAIN).
CONTROLLER_USER = "microcred-controller"
#: SCRAM's PBKDF2 rounds (Kafka accepts 4096 to 16384).
SCRAM_ITERATIONS = 8192
#: Random bytes in the salt of the admin's SCRAM credential.
SCRAM_SALT_BYTES = 32
CLIENT_LISTENER = "BROKER"
CONTROLLER_LISTENER = "CONTROLLER"
PRIVATE_FILE_MODE = 0o600


@dataclass(frozen=True)
class KafkaSecrets:
    """The embedded broker's passwords; none of them appears in a repr."""

    admin_password: str = field(repr=False)
    platform_password: str = field(repr=False)
    controller_password: str = field(repr=False)

    @classmethod
    def generate(cls) -> KafkaSecrets:
        return cls(
            admin_password=secrets.token_urlsafe(32),
            platform_password=secrets.token_urlsafe(32),
            controller_password=secrets.token_urlsafe(32),
        )

    def admin(self) -> KafkaCredentials:
        return KafkaCredentials(ADMIN_USER, self.admin_password)

    def platform(self) -> KafkaCredentials:
        return KafkaCredentials(PLATFORM_USER, self.platform_password)


def kafka_secrets_path(data_dir: Path) -> Path:
    return data_dir / KAFKA_SECRETS_FILE


def read_kafka_secrets(data_dir: Path) -> KafkaSecrets | None:
    """The stack's Kafka passwords, or None before its first start."""
    path = kafka_secrets_path(data_dir)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return KafkaSecrets(**{name: str(document[name]) for name in KafkaSecrets.__dataclass_fields__})


def load_or_create_kafka_secrets(data_dir: Path) -> KafkaSecrets:
    """The stack's Kafka passwords, made and stored (mode 0600) on the first call."""
    existing = read_kafka_secrets(data_dir)
    if existing is not None:
        kafka_secrets_path(data_dir).chmod(PRIVATE_FILE_MODE)
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    made = KafkaSecrets.generate()
    write_private_file(kafka_secrets_path(data_dir), json.dumps(asdict(made), indent=2) + "\n")
    # Another process may have written its own first; everyone uses the one that was kept.
    kept = read_kafka_secrets(data_dir)
    if kept is None:  # pragma: no cover - the file was just written
        raise RuntimeError(f"cannot read {kafka_secrets_path(data_dir)} back")
    return kept


def write_private_file(path: Path, text: str, *, replace: bool = False) -> None:
    """Write ``text`` to ``path`` readable by its owner only, whole or not at all.

    Without ``replace`` an existing file is kept as it is.
    """
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w") as handle:  # mkstemp creates it with mode 0600
            handle.write(text)
        if replace:
            Path(temporary).replace(path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _jaas(module: str, **options: str) -> str:
    rendered = " ".join(f'{name}="{value}"' for name, value in options.items())
    return f"org.apache.kafka.common.security.{module} required {rendered};"


def security_properties(
    host: str, port: int, controller_port: int, kafka_secrets: KafkaSecrets
) -> list[str]:
    """The listeners, SASL and authorizer lines of ``server.properties``."""
    client = CLIENT_LISTENER.lower()
    controller = CONTROLLER_LISTENER.lower()
    return [
        f"listeners={CLIENT_LISTENER}://{host}:{port},{CONTROLLER_LISTENER}://{host}:{controller_port}",
        f"advertised.listeners={CLIENT_LISTENER}://{host}:{port}",
        f"controller.listener.names={CONTROLLER_LISTENER}",
        f"inter.broker.listener.name={CLIENT_LISTENER}",
        (
            f"listener.security.protocol.map={CONTROLLER_LISTENER}:SASL_PLAINTEXT,"
            f"{CLIENT_LISTENER}:SASL_PLAINTEXT"
        ),
        # Clients and the broker itself: SCRAM, credentials in the metadata log.
        f"listener.name.{client}.sasl.enabled.mechanisms={SCRAM_SHA_512}",
        f"sasl.mechanism.inter.broker.protocol={SCRAM_SHA_512}",
        f"listener.name.{client}.{SCRAM_SHA_512.lower()}.sasl.jaas.config="
        + _jaas(
            "scram.ScramLoginModule", username=ADMIN_USER, password=kafka_secrets.admin_password
        ),
        # The quorum: PLAIN, its one user declared here (SCRAM would need the metadata log).
        f"listener.name.{controller}.sasl.enabled.mechanisms=PLAIN",
        "sasl.mechanism.controller.protocol=PLAIN",
        f"listener.name.{controller}.plain.sasl.jaas.config="
        + _jaas(
            "plain.PlainLoginModule",
            username=CONTROLLER_USER,
            password=kafka_secrets.controller_password,
            **{f"user_{CONTROLLER_USER}": kafka_secrets.controller_password},
        ),
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN_USER};User:{CONTROLLER_USER}",
    ]


def scram_salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    """SCRAM-SHA-512's SaltedPassword: ``Hi(password, salt, i)`` of RFC 5802, i.e. PBKDF2.

    Kafka's ``ScramFormatter`` takes the password's UTF-8 bytes as they are (no SASLprep) and
    keeps one block of HMAC-SHA-512, which is what :func:`hashlib.pbkdf2_hmac` returns.
    """
    return hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)


def format_arguments(kafka_secrets: KafkaSecrets, *, salt: bytes | None = None) -> list[str]:
    """``kafka-storage format`` arguments that give the admin its SCRAM credential.

    The password itself is not among them (a command line is readable by every local user
    through ``/proc/<pid>/cmdline``): they carry a random salt and the salted password, both in
    standard Base64, from which Kafka derives the stored and server keys. The salted password is
    still enough to log in as the admin over SCRAM (for as long as this credential exists), so
    it is sensitive too while the tool runs; but the password itself, which the broker's JAAS
    configuration and the stack's clients use, is not exposed.
    """
    salt = secrets.token_bytes(SCRAM_SALT_BYTES) if salt is None else salt
    salted = scram_salted_password(kafka_secrets.admin_password, salt, SCRAM_ITERATIONS)
    return [
        "--add-scram",
        (
            f"{SCRAM_SHA_512}=[name={ADMIN_USER},iterations={SCRAM_ITERATIONS},"
            f"salt={base64.b64encode(salt).decode('ascii')},"
            f"saltedpassword={base64.b64encode(salted).decode('ascii')}]"
        ),
    ]
