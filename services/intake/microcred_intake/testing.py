"""Test support: intake in the test's event loop on real servers.

It comes with an institution and a verified learner; intake's own tests and the platform's
cross-service tests use it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from microcred_intake.bootstrap import build_app
from microcred_intake.settings import IntakeSettings
from microcred_shared.demo import Account, PlatformClient, demo_institution
from microcred_shared.s3 import ObjectStore, make_s3_client
from microcred_shared.testing.apps import running, service_env
from microcred_shared.testing.servers import Servers


@dataclass
class Harness:
    http: httpx.AsyncClient
    client: PlatformClient
    settings: IntakeSettings
    objects: ObjectStore
    servers: Servers
    institution_id: str
    learner: Account
    #: The running app, for tests that put a fake of another service in its state.
    app: FastAPI

    async def new_learner(self, institution_id: str | None = None) -> Account:
        email = f"learner.{uuid.uuid4().hex[:8]}@example.org"
        return await self.client.register(
            institution_id or self.institution_id, "Ada Lovelace", email, "a-long-password-1"
        )

    async def database(self) -> Any:
        client: AsyncMongoClient[Any] = AsyncMongoClient(self.servers.mongodb_uri)
        return client, client[self.settings.mongodb_database]


def evidence_form(**changes: str) -> dict[str, str]:
    """The fields of a valid evidence upload, with ``changes``; ``"<absent>"`` leaves one out."""
    fields = {
        "competence_id": "digcomp-3-1",
        "title": "Course on video editing",
        "hours": "30",
        "start_date": "2026-01-10",
        "end_date": "2026-02-10",
        "provider": "Open Learning Hub",
        "kind": "course",
        **changes,
    }
    return {k: v for k, v in fields.items() if v != "<absent>"}


#: Where nothing listens: intake alone has no accounting, so its dashboard falls back to its own
#: records at once (tests that need accounting give a fake's transport, or run the platform).
NO_ACCOUNTING = "http://127.0.0.1:1"


def intake_settings(servers: Servers, **overrides: Any) -> IntakeSettings:
    overrides.setdefault("accounting_url", NO_ACCOUNTING)
    return IntakeSettings(
        **service_env(servers, "intake"),  # type: ignore[arg-type]
        s3_endpoint_url=servers.s3_endpoint,
        s3_access_key=servers.s3_access_key,
        s3_secret_key=SecretStr(servers.s3_secret_key),
        s3_bucket=f"test-intake-{uuid.uuid4().hex[:10]}",
        smtp_host=servers.smtp_host,
        smtp_port=servers.smtp_port,
        public_url="https://intake.example.org",
        **overrides,
    )


@asynccontextmanager
async def harness(servers: Servers, **overrides: Any) -> AsyncIterator[Harness]:
    """Intake with its own database and bucket, an institution, and a verified learner."""
    settings = intake_settings(servers, **overrides)
    app = build_app(settings)
    async with running(app) as http:
        client = PlatformClient({"intake": "https://service"}, http, servers.mail.messages)
        institution_id = f"inst-{uuid.uuid4().hex[:10]}"
        await client.onboard(demo_institution(institution_id))
        email = f"learner.{uuid.uuid4().hex[:8]}@example.org"
        learner = await client.register(institution_id, "Ada Lovelace", email, "a-long-password-1")
        try:
            yield Harness(
                http,
                client,
                settings,
                ObjectStore(make_s3_client(settings), settings.s3_bucket),
                servers,
                institution_id,
                learner,
                app,
            )
        finally:
            mongo: AsyncMongoClient[Any] = AsyncMongoClient(servers.mongodb_uri)
            await mongo.drop_database(settings.mongodb_database)
            await mongo.close()
