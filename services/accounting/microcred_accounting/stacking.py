"""Pathways: larger credentials stacked from competence awards, a consortium's included.

An institution defines a pathway over its own competences and those of partner institutions
it names; a partner's awards count only once that partner shares them with it (both sides
agree). A learner completes a pathway with enough components held, at least one of them the
awarding institution's own: the awarding institution signs the larger credential, so it must
have assessed the learner itself, and it learns of no partner's learner otherwise.

A pathway award follows the awards it stacks: when one of them is revoked, so is the pathway
award, and if the pathway is still complete with the awards left (an n-of pathway with a
substitute) a new one is granted stacking those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from microcred_accounting.awards import (
    RECONCILE_ROUNDS,
    SOURCE,
    AwardBook,
    UnsettledError,
    pathway_award_id_for,
    pathway_award_key,
)
from microcred_accounting.domain import pathway_revocation_reason
from microcred_accounting.pathways import PathwayDefinition, component_key
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    InstitutionRef,
    LearnerProfile,
    PathwayAwardedV1,
    PathwaySnapshot,
    StackedAward,
)
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import outbox_fields

log = get_logger(__name__)


def sharing_id(partner_id: str, awarding_id: str) -> str:
    return f"{partner_id}>{awarding_id}"


@dataclass
class Stacking:
    pathways: Any
    sharing: Any
    book: AwardBook

    async def ensure_indexes(self) -> None:
        await self.pathways.create_index([("component_keys", ASCENDING)])
        await self.pathways.create_index([("institution_id", ASCENDING)])
        await self.pathways.create_index([("needs_reconcile", ASCENDING)], sparse=True)
        await self.sharing.create_index([("awarding_id", ASCENDING)])

    # --- definitions and partnerships ---------------------------------------------------------

    async def define(
        self, institution_id: str, pathway_id: str, definition: PathwayDefinition
    ) -> Document:
        """Store (or replace) a pathway, then award it to every learner it is complete for."""
        snapshot = definition.snapshot(pathway_id)
        document = {
            "_id": f"{institution_id}/{pathway_id}",
            "institution_id": institution_id,
            "pathway_id": pathway_id,
            "definition": definition.model_dump(mode="json"),
            "component_keys": [
                component_key(c.institution_id, c.competence_id) for c in snapshot.components
            ],
            "updated_at": datetime.now(UTC),
            # Cleared once every learner is reconciled; left set by a crash, the periodic
            # round finishes the work.
            "needs_reconcile": True,
        }
        await self.pathways.replace_one({"_id": document["_id"]}, document, upsert=True)
        await self._reconcile_everyone(document)
        return document

    async def share(self, partner_id: str, awarding_id: str) -> Document:
        """``partner_id`` lets its awards count toward ``awarding_id``'s pathways."""
        document = {
            "_id": sharing_id(partner_id, awarding_id),
            "partner_id": partner_id,
            "awarding_id": awarding_id,
            "since": datetime.now(UTC),
        }
        try:
            await self.sharing.insert_one(document)
        except DuplicateKeyError:
            found: Document = await self.sharing.find_one({"_id": document["_id"]})
            return found
        await self.pathways.update_many(
            {"institution_id": awarding_id}, {"$set": {"needs_reconcile": True}}
        )
        await self.reconcile_pending()
        return document

    async def stop_sharing(self, partner_id: str, awarding_id: str) -> bool:
        """Stop counting the partner's awards; pathway credentials already awarded stand."""
        result = await self.sharing.delete_one({"_id": sharing_id(partner_id, awarding_id)})
        return bool(result.deleted_count)

    async def shared_with(self, partner_id: str) -> list[Document]:
        return [d async for d in self.sharing.find({"partner_id": partner_id}).sort("_id")]

    async def partners_sharing_with(self, awarding_id: str) -> set[str]:
        cursor = self.sharing.find({"awarding_id": awarding_id}, {"partner_id": 1})
        return {d["partner_id"] async for d in cursor}

    async def pathway(self, institution_id: str, pathway_id: str) -> Document | None:
        document: Document | None = await self.pathways.find_one(
            {"_id": f"{institution_id}/{pathway_id}"}
        )
        return document

    async def institution_pathways(self, institution_id: str) -> list[Document]:
        cursor = self.pathways.find({"institution_id": institution_id}).sort("pathway_id")
        return [d async for d in cursor]

    # --- keeping pathway awards in step -------------------------------------------------------

    async def reconcile_pending(self) -> None:
        """Reconcile every pathway defined or shared with since its last complete round."""
        async for pathway in self.pathways.find({"needs_reconcile": True}):
            await self._reconcile_everyone(pathway)

    async def _reconcile_everyone(self, pathway: Document) -> None:
        learners = {
            d["learner_id"]
            async for d in self.book.collection.find(
                {
                    "kind": "competence",
                    "status": "active",
                    "component_key": {"$in": pathway["component_keys"]},
                },
                {"learner_id": 1},
            )
        }
        for learner_id in sorted(learners):
            await self.reconcile(pathway, learner_id)
        # Only if the definition is still the one just reconciled.
        await self.pathways.update_one(
            {"_id": pathway["_id"], "updated_at": pathway["updated_at"]},
            {"$unset": {"needs_reconcile": ""}},
        )

    async def reconcile_with(self, learner_id: str, key: str) -> None:
        """Bring in step the pathways (of any institution) that stack the competence ``key``.

        Those whose awards stack one of its awards too: a redefinition may have dropped it.
        """
        pathway_ids = {p["_id"] async for p in self.pathways.find({"component_keys": key})}
        stacking = self.book.collection.find(
            {"learner_id": learner_id, "kind": "pathway", "stacked_keys": key},
            {"pathway_document_id": 1},
        )
        pathway_ids |= {d["pathway_document_id"] async for d in stacking}
        for pathway_id in sorted(pathway_ids):
            pathway = await self.pathways.find_one({"_id": pathway_id})
            if pathway is not None:
                await self.reconcile(pathway, learner_id)

    async def _counted(self, pathway: Document, learner_id: str) -> dict[str, Document]:
        """The learner's active awards that count toward the pathway."""
        awarding = pathway["institution_id"]
        partners = await self.partners_sharing_with(awarding)
        held = await self.book.active_competence_awards(learner_id, pathway["component_keys"])
        return {
            key: award
            for key, award in held.items()
            if award["institution_id"] == awarding or award["institution_id"] in partners
        }

    async def reconcile(self, pathway: Document, learner_id: str) -> None:
        definition = PathwayDefinition.model_validate(pathway["definition"])
        snapshot = definition.snapshot(pathway["pathway_id"])
        key = pathway_award_key(pathway["_id"])
        for _ in range(RECONCILE_ROUNDS):
            counted = await self._counted(pathway, learner_id)
            own = [a for a in counted.values() if a["institution_id"] == pathway["institution_id"]]
            complete = len(counted) >= snapshot.required and bool(own)
            current = await self.book.latest(learner_id, key)
            if current is not None and current["status"] == "active":
                lost = await self.book.revoked_among(current["stacked_award_ids"])
                if not lost:
                    # Taken back only when an award it stacks is: never because the pathway
                    # was redefined, nor because a partner stopped sharing.
                    break
                titles = [t for a, t in current["stacked_titles"].items() if a in lost]
                reason = pathway_revocation_reason(
                    snapshot.title, titles, len(counted), snapshot.required
                )
                await self.book.revoke(current, reason)
            elif complete:
                generation = current["generation"] + 1 if current else 0
                await self._grant(pathway, snapshot, key, learner_id, counted, generation)
            else:
                break
        else:
            raise UnsettledError(f"pathway {pathway['_id']} of {learner_id} kept changing")
        await self.book.flush_pending(learner_id, key)

    async def _grant(
        self,
        pathway: Document,
        snapshot: PathwaySnapshot,
        key: str,
        learner_id: str,
        counted: dict[str, Document],
        generation: int,
    ) -> None:
        institution_id = pathway["institution_id"]
        award_id = pathway_award_id_for(institution_id, learner_id, snapshot.id, generation)
        stacked = sorted(counted.values(), key=lambda d: (d["awarded_at"], d["_id"]))
        own = [d for d in stacked if d["institution_id"] == institution_id]
        hours = sum((d["hours"].to_decimal() for d in stacked), Decimal(0))
        ects = sum((d["ects"].to_decimal() for d in stacked), Decimal(0))
        awarded_at = datetime.now(UTC)
        event = Envelope.wrap(
            PathwayAwardedV1(
                award_id=award_id,
                learner_id=learner_id,
                # The newest award knows the learner's name and address best.
                learner=LearnerProfile.model_validate(stacked[-1]["learner"]),
                # As intake described the awarding institution on its own latest award, never
                # as a pathway's definition might claim it.
                institution=InstitutionRef.model_validate(own[-1]["institution"]),
                pathway=snapshot,
                stacked=tuple(
                    StackedAward(
                        award_id=d["_id"],
                        institution=InstitutionRef.model_validate(d["institution"]),
                        competence=CompetenceSnapshot.model_validate(d["competence"]),
                        hours=d["hours"].to_decimal(),
                        ects=d["ects"].to_decimal(),
                        awarded_at=d["awarded_at"],
                    )
                    for d in stacked
                ),
                hours=hours,
                ects=ects,
                awarded_at=awarded_at,
            ),
            source=SOURCE,
            subject=award_id,
            tenant=institution_id,
            event_id=deterministic_event_id("pathway-awarded", award_id),
            time=awarded_at,
        )
        try:
            await self.book.collection.insert_one(
                {
                    "_id": award_id,
                    "kind": "pathway",
                    "institution_id": institution_id,
                    "learner_id": learner_id,
                    "achievement_id": snapshot.id,
                    "component_key": key,
                    "pathway_document_id": pathway["_id"],
                    "generation": generation,
                    "title": snapshot.title,
                    "status": "active",
                    "hours": Decimal128(hours),
                    "ects": Decimal128(ects),
                    "awarded_at": awarded_at,
                    "revoked_at": None,
                    "revocation_reason": None,
                    "stacked_award_ids": [d["_id"] for d in stacked],
                    "stacked_keys": [d["component_key"] for d in stacked],
                    "stacked_titles": {d["_id"]: d["title"] for d in stacked},
                    **outbox_fields([event]),
                }
            )
            log.info("pathway.awarded", award_id=award_id, pathway=key)
        except DuplicateKeyError:
            pass
