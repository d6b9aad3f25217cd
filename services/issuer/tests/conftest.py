"""The issuer over the session's real database, and its routes over HTTP without a broker."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from microcred_issuer.api import router
from microcred_issuer.handlers import Issuer
from microcred_issuer.institutions_api import router as institutions_router
from microcred_issuer.keys_api import router as keys_router
from microcred_issuer.rendering.api import router as renderings
from microcred_issuer.vcapi import router as vc_api
from microcred_issuer.verification.api import router as verification
from microcred_shared.crypto import MasterKeyCipher
from microcred_shared.http import install_problem_handlers
from microcred_shared.testing.fakes import RecordingPublisher
from services.issuer.tests.callers import LocalKeySet
from services.issuer.tests.samples import CREDENTIAL_ID_KEY, MASTER, PUBLIC_URL, onboard


@pytest.fixture
async def issuer(database: AsyncDatabase[Any]) -> Issuer:
    """An issuer with the sample institutions onboarded (registered, their first keys made)."""
    issuer = Issuer(
        database, RecordingPublisher(), MasterKeyCipher(MASTER), PUBLIC_URL, CREDENTIAL_ID_KEY
    )
    await issuer.keys.prepare()
    await issuer.ensure_indexes()
    await onboard(issuer)
    return issuer


def issuer_app(issuer: Issuer) -> FastAPI:
    """Every route of the issuer over ``issuer``; tokens signed by ``callers.token``."""
    app = FastAPI()
    install_problem_handlers(app)
    for routes in (router, keys_router, institutions_router, vc_api, verification, renderings):
        app.include_router(routes)
    app.state.issuer = issuer
    app.state.keys = LocalKeySet()
    return app


@pytest.fixture
async def http(issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=issuer_app(issuer))
    async with httpx.AsyncClient(transport=transport, base_url="https://issuer") as client:
        yield client
