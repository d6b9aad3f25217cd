"""MongoDB through PyMongo's native async API (``AsyncMongoClient``; Motor reached end of life)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from microcred_shared.settings import ServiceSettings

Document = dict[str, Any]


def make_mongo_client(settings: ServiceSettings) -> AsyncMongoClient[Document]:
    """Return a client; it connects lazily, so building one opens nothing."""
    return AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        appname=f"microcred-{settings.service_name}",
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
    )


def service_database(
    client: AsyncMongoClient[Document], settings: ServiceSettings
) -> AsyncDatabase[Document]:
    return client[settings.mongodb_database]


async def ping(client: AsyncMongoClient[Document]) -> None:
    await client.admin.command("ping")
