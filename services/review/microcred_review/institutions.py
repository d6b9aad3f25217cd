"""Each institution's review settings, and the topics of its review contract."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from microcred_review.domain import ReviewPolicy
from microcred_shared.contracts.topics import institution_review_topics
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document

log = get_logger(__name__)

#: Creates topics that do not exist yet (and leaves existing ones alone).
TopicCreator = Callable[[tuple[str, ...]], Awaitable[None]]


@dataclass
class Institutions:
    database: AsyncDatabase[Document]
    create_topics: TopicCreator
    _provisioned: set[str] = field(default_factory=set)

    @property
    def collection(self) -> Any:
        return self.database["institutions"]

    async def policy(self, institution_id: str) -> ReviewPolicy:
        """The institution's settings; an institution never configured reviews in builtin mode."""
        document = await self.collection.find_one({"_id": institution_id})
        if document is None:
            return ReviewPolicy()
        return ReviewPolicy.model_validate(document["policy"])

    async def configure(self, institution_id: str, policy: ReviewPolicy) -> ReviewPolicy:
        # The topics first, so that an external reviewer can subscribe before any evidence.
        await self.provision(institution_id)
        await self.collection.update_one(
            {"_id": institution_id},
            {"$set": {"policy": policy.model_dump(mode="json")}},
            upsert=True,
        )
        log.info("review.configured", institution_id=institution_id, mode=policy.mode)
        return policy

    async def provision(self, institution_id: str) -> None:
        """Make sure the institution's request and decision topics exist (once per process)."""
        if institution_id in self._provisioned:
            return
        await self.create_topics(institution_review_topics(institution_id))
        self._provisioned.add(institution_id)
