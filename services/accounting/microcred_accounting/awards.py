"""The book of awards: competence and pathway awards, each with the events it owes.

An award is filed under a key (a competence across institutions, or a pathway) and a
generation: a revoked award stays revoked, and a new one is the next generation, so every award
id is deterministic and two consumers granting the same award at once insert it only once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING

from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import AwardRevokedV1
from microcred_shared.kafka import RawEventPublisher
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import append_to_outbox, flush

log = get_logger(__name__)

SOURCE = "/microcred/accounting"

#: How often an award is re-checked against state that moved while it was being changed. Two
#: handlers may work on one learner at once: the consumers of two topics (a parked decision is
#: applied by the evidence-submitted consumer), a pathway definition, a group rebalance.
RECONCILE_ROUNDS = 5


class UnsettledError(RuntimeError):
    """An award kept moving under concurrent changes: the delivery is retried."""


def award_id_for(
    institution_id: str, learner_id: str, competence_id: str, generation: int = 0
) -> str:
    parts = (institution_id, learner_id, competence_id)
    return deterministic_event_id("award", *parts, *((str(generation),) if generation else ()))


def pathway_award_id_for(
    institution_id: str, learner_id: str, pathway_id: str, generation: int = 0
) -> str:
    return deterministic_event_id(
        "pathway-award", institution_id, learner_id, pathway_id, str(generation)
    )


def pathway_award_key(pathway_document_id: str) -> str:
    """What a pathway's awards are filed under, apart from any competence's."""
    return f"pathway:{pathway_document_id}"


@dataclass
class AwardBook:
    collection: Any
    publisher: RawEventPublisher

    async def latest(self, learner_id: str, key: str) -> Document | None:
        """The newest award (highest generation) of one competence or pathway for a learner."""
        cursor = (
            self.collection.find({"learner_id": learner_id, "component_key": key})
            .sort("generation", DESCENDING)
            .limit(1)
        )
        return next(iter([d async for d in cursor]), None)

    async def active_competence_awards(
        self, learner_id: str, keys: list[str]
    ) -> dict[str, Document]:
        cursor = self.collection.find(
            {
                "learner_id": learner_id,
                "kind": "competence",
                "status": "active",
                "component_key": {"$in": keys},
                "competence": {"$exists": True},
            }
        )
        return {d["component_key"]: d async for d in cursor}

    async def revoked_among(self, award_ids: list[str]) -> list[str]:
        cursor = self.collection.find({"_id": {"$in": award_ids}, "status": "revoked"}, {"_id": 1})
        return [d["_id"] async for d in cursor]

    async def revoke(self, award: Document, reason: str) -> bool:
        """Revoke an active award (once: the filter guards the transition) and announce it."""
        revoked_at = datetime.now(UTC)
        event = Envelope.wrap(
            AwardRevokedV1(
                award_id=award["_id"],
                learner_id=award["learner_id"],
                award_kind=award["kind"],
                achievement_id=award["achievement_id"],
                title=award["title"],
                reason=reason,
                revoked_at=revoked_at,
            ),
            source=SOURCE,
            subject=award["_id"],
            tenant=award["institution_id"],
            event_id=deterministic_event_id("award-revoked", award["_id"]),
            time=revoked_at,
        )
        outbox = append_to_outbox(event)
        result = await self.collection.update_one(
            {"_id": award["_id"], "status": "active"},
            {
                "$set": {
                    **outbox["$set"],
                    "status": "revoked",
                    "revoked_at": revoked_at,
                    "revocation_reason": reason,
                },
                "$push": outbox["$push"],
            },
        )
        if result.modified_count:
            log.info("award.revoked", award_id=award["_id"], kind=award["kind"])
        return bool(result.modified_count)

    async def flush_pending(self, learner_id: str, key: str) -> None:
        pending = self.collection.find(
            {"learner_id": learner_id, "component_key": key, "outbox_pending": True}, {"_id": 1}
        )
        for document in [d async for d in pending]:
            await flush(self.collection, document["_id"], self.publisher)

    async def backfill(self) -> int:
        """Give awards stored before awards could be revoked the fields revocation needs.

        They lack the snapshots a pathway stacks (learner, institution, competence), so they
        never count toward a pathway.
        """
        upgraded = 0
        async for award in self.collection.find({"kind": {"$exists": False}}):
            competence_id = award["competence_id"]
            await self.collection.update_one(
                {"_id": award["_id"], "kind": {"$exists": False}},
                {
                    "$set": {
                        "kind": "competence",
                        "status": "active",
                        "generation": 0,
                        "achievement_id": competence_id,
                        "component_key": f"{award['institution_id']}/{competence_id}",
                        "title": award.get("title", competence_id),
                        "revoked_at": None,
                        "revocation_reason": None,
                    }
                },
            )
            upgraded += 1
        if upgraded:
            log.info("awards.backfilled", awards=upgraded)
        return upgraded
