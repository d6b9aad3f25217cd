"""Schemathesis against every service's OpenAPI document (issue #8, security testing).

Each service's FastAPI app runs in-process (schemathesis' ASGI transport starts its lifespan)
on the session's real Kafka, MongoDB-protocol server, S3 and SMTP, with a database of its own.
For every operation of its schema, Hypothesis generates requests — valid ones and, where the
operation takes input, deliberately invalid ones — and every response is checked:

- ``not_a_server_error``: no 5xx, whatever the input;
- ``response_schema_conformance``: a documented status's body matches its documented schema;
- ``status_code_conformance``: the status is one the schema documents for the operation.

Most requests carry a platform administrator's bearer token (intake's own, from
``POST /auth/token``; the other services accept the test's signing key, ``LocalKeySet``), so the
generator reaches the handlers and not only the 401s; one request in ten carries none.

The seed is fixed (``derandomize``): CI runs the same requests every time. Each service gets at
least ``REQUESTS_PER_SERVICE`` requests in total; the count is asserted.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.python import asgi
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from microcred_accounting.bootstrap import build_app as accounting_app
from microcred_accounting.settings import AccountingSettings
from microcred_intake.bootstrap import build_app as intake_app
from microcred_intake.settings import IntakeSettings
from microcred_issuer.bootstrap import build_app as issuer_app
from microcred_issuer.settings import IssuerSettings
from microcred_notifier.bootstrap import build_app as notifier_app
from microcred_notifier.settings import NotifierSettings
from microcred_review.bootstrap import build_app as review_app
from microcred_review.settings import ReviewSettings
from microcred_shared.testing.apps import service_env
from microcred_shared.testing.servers import Servers
from microcred_shared.testing.tokens import LocalKeySet, bearer

pytestmark = [
    pytest.mark.integration,
    # Schemathesis' own strategies draw from `random`, which Hypothesis deprecates: not ours.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

Operation = APIOperation[Any, Any, Any, Any]

#: Generated requests per service, at least (the sum over its operations).
REQUESTS_PER_SERVICE = 1_000
#: Margin over the minimum: Hypothesis stops early on operations whose inputs it exhausts.
MARGIN = 1.15
#: Where nothing listens: calls to another service fail fast (and must not become a 5xx).
NOWHERE = "http://127.0.0.1:1"
ADMIN_EMAIL = "fuzz-admin@microcred.localhost"
ADMIN_PASSWORD = "a-long-fuzzing-password-1"

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
]


def build_intake(servers: Servers) -> FastAPI:
    return intake_app(
        IntakeSettings(
            **service_env(servers, "intake"),  # type: ignore[arg-type]
            s3_endpoint_url=servers.s3_endpoint,
            s3_access_key=servers.s3_access_key,
            s3_secret_key=SecretStr(servers.s3_secret_key),
            s3_bucket=f"test-fuzz-{uuid.uuid4().hex[:10]}",
            smtp_host=servers.smtp_host,
            smtp_port=servers.smtp_port,
            public_url="https://intake.example.org",
            review_url=NOWHERE,
            accounting_url=NOWHERE,
            first_admin_email=ADMIN_EMAIL,
            first_admin_password=SecretStr(ADMIN_PASSWORD),
        )
    )


def build_review(servers: Servers) -> FastAPI:
    app = review_app(ReviewSettings(**service_env(servers, "review")))  # type: ignore[arg-type]
    app.state.keys = LocalKeySet()
    return app


def build_accounting(servers: Servers) -> FastAPI:
    app = accounting_app(
        AccountingSettings(**service_env(servers, "accounting"))  # type: ignore[arg-type]
    )
    app.state.keys = LocalKeySet()
    return app


def build_issuer(servers: Servers) -> FastAPI:
    app = issuer_app(IssuerSettings(**service_env(servers, "issuer")))  # type: ignore[arg-type]
    app.state.keys = LocalKeySet()
    return app


def build_notifier(servers: Servers) -> FastAPI:
    app = notifier_app(
        NotifierSettings(
            **service_env(servers, "notifier"),  # type: ignore[arg-type]
            smtp_host=servers.smtp_host,
            smtp_port=servers.smtp_port,
            public_url="https://wallet.example.org",
            intake_url="https://intake.example.org",
            issuer_url=NOWHERE,
        )
    )
    keys = LocalKeySet()
    app.state.keys = keys
    app.state.pages.keys = keys
    return app


BUILDERS: dict[str, Callable[[Servers], FastAPI]] = {
    "intake": build_intake,
    "review": build_review,
    "accounting": build_accounting,
    "issuer": build_issuer,
    "notifier": build_notifier,
}


def admin_headers(service: str, app: FastAPI) -> dict[str, str]:
    """A platform administrator's ``Authorization`` header, as the service accepts it."""
    if service != "intake":
        return bearer(platform_admin=True)
    # Intake verifies its own tokens: its first administrator asks for one.
    with asgi.get_client(app) as client:  # type: ignore[arg-type]
        response = client.post(
            f"http://{asgi.HOST}/auth/token",
            json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def takes_input(operation: Operation) -> bool:
    return bool(
        operation.path_parameters
        or operation.query
        or operation.headers
        or operation.cookies
        or operation.body
    )


@dataclass
class Run:
    service: str
    calls: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def fuzz(
    operation: Operation,
    mode: GenerationMode,
    examples: int,
    headers: dict[str, str],
    run: Run,
) -> None:
    label = operation.label
    run.calls.setdefault(label, 0)

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        # No shrinking: schemathesis reports the failing request as sent (with a curl line).
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(mode))
    def check(case: Case[Any]) -> None:
        run.calls[label] += 1
        # One request in ten is anonymous: the 401s are part of the API too.
        sent = {} if run.calls[label] % 10 == 0 else headers
        case.call_and_validate(headers=sent, checks=CHECKS)

    try:
        check()
    except Unsatisfiable:
        # No invalid request to make: every value of its inputs is valid (a free-form string in
        # the path, say). Only a negative run can be so.
        assert mode is GenerationMode.NEGATIVE, label
    except (FailureGroup, AssertionError) as failure:
        run.failures[f"{label} ({mode.value})"] = str(failure)


RUNS: dict[str, Run] = {}


@pytest.mark.parametrize("service", list(BUILDERS))
def test_fuzzing_finds_no_server_error_and_no_schema_mismatch(
    service: str, servers: Servers, topics_ready: None
) -> None:
    started = time.monotonic()
    app = BUILDERS[service](servers)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = []
    for result in schema.get_all_operations():
        assert not isinstance(result, Err), result.err()
        operations.append(result.ok())
    headers = admin_headers(service, app)
    with_input = [operation for operation in operations if takes_input(operation)]
    without_input = [operation for operation in operations if not takes_input(operation)]
    budget = math.ceil(MARGIN * REQUESTS_PER_SERVICE)
    run = Run(service)
    try:
        # Operations without inputs have one request to make (or a few).
        for operation in without_input:
            fuzz(operation, GenerationMode.POSITIVE, 5, headers, run)
        # A third of the rest on invalid requests (where there are any to make), then valid ones.
        invalid = math.ceil(budget / 3 / len(with_input))
        for operation in with_input:
            fuzz(operation, GenerationMode.NEGATIVE, invalid, headers, run)
        valid = math.ceil(max(budget - run.total, 0) / len(with_input))
        for operation in with_input:
            fuzz(operation, GenerationMode.POSITIVE, valid, headers, run)
    finally:
        asgi.shutdown_lifespans()
        run.seconds = time.monotonic() - started
        RUNS[service] = run
    report = "\n\n".join(f"{label}:\n{failure}" for label, failure in run.failures.items())
    assert not run.failures, f"{service}: {len(run.failures)} operation(s) failed\n\n{report}"
    assert run.total >= REQUESTS_PER_SERVICE, (service, run.total, run.calls)


def test_every_service_got_its_share_of_requests() -> None:
    """The per-service totals of the runs above (shown with ``-s``), each asserted again."""
    if not RUNS:
        pytest.skip("no service was fuzzed in this session")
    for service, run in RUNS.items():
        line = f"{service}: {run.total} requests, {len(run.calls)} operations, {run.seconds:.0f}s"
        print(line)  # noqa: T201
        assert run.total >= REQUESTS_PER_SERVICE, (service, run.total, run.calls)
