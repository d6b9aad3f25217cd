"""Intake's MongoDB adapter: institutions, catalogues, evidence, badges, revocations."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_intake.domain import InstitutionCreate
from microcred_shared.mongo import Document
from microcred_shared.outbox import ensure_outbox_index

HIDDEN = {"outbox": 0, "outbox_pending": 0, "outbox_pending_since": 0}


class IntakeStore:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.institutions = database["institutions"]
        self.evidence = database["evidence"]
        self.badges = database["badges"]
        self.revocations = database["revocations"]

    async def ensure_indexes(self) -> None:
        await self.evidence.create_index(
            [("institution_id", ASCENDING), ("learner_id", ASCENDING), ("submitted_at", ASCENDING)]
        )
        await self.evidence.create_index([("learner_id", ASCENDING), ("files.sha256", ASCENDING)])
        await self.badges.create_index([("institution_id", ASCENDING), ("learner_id", ASCENDING)])
        await self.badges.create_index([("award_id", ASCENDING)])
        await self.evidence.create_index([("award_id", ASCENDING)])
        await self.revocations.create_index(
            [("institution_id", ASCENDING), ("learner_id", ASCENDING)]
        )
        await ensure_outbox_index(self.evidence)

    async def add_institution(self, institution: InstitutionCreate) -> bool:
        """Store a new institution; False when one with that id exists already."""
        try:
            await self.institutions.insert_one(
                {"_id": institution.id, **institution.model_dump(mode="json", exclude={"id"})}
            )
        except DuplicateKeyError:
            return False
        return True

    async def replace_catalogue(self, institution_id: str, competences: list[Document]) -> bool:
        result = await self.institutions.update_one(
            {"_id": institution_id}, {"$set": {"competences": competences}}
        )
        return result.matched_count == 1

    async def institution(self, institution_id: str) -> InstitutionCreate | None:
        document = await self.institutions.find_one({"_id": institution_id})
        if document is None:
            return None
        document["id"] = document.pop("_id")
        return InstitutionCreate.model_validate(document)

    async def institutions_list(self) -> list[Document]:
        cursor = self.institutions.find({}, {"name": 1, "country": 1, "locales": 1}).sort(
            "name", ASCENDING
        )
        return [document async for document in cursor]

    async def add_evidence(self, document: Document) -> None:
        await self.evidence.insert_one(document)

    async def evidence_record(self, institution_id: str, evidence_id: str) -> Document | None:
        document: Document | None = await self.evidence.find_one(
            {"_id": evidence_id, "institution_id": institution_id}, HIDDEN
        )
        return document

    async def evidence_of(self, institution_id: str, learner_id: str) -> list[Document]:
        cursor = self.evidence.find(
            {"institution_id": institution_id, "learner_id": learner_id}, HIDDEN
        ).sort("submitted_at", ASCENDING)
        return [document async for document in cursor]

    async def already_submitted(self, learner_id: str, sha256s: list[str]) -> Document | None:
        """Evidence (not withdrawn) of this learner that carries one of these files already."""
        document: Document | None = await self.evidence.find_one(
            {
                "learner_id": learner_id,
                "files.sha256": {"$in": sha256s},
                "status": {"$nin": ["withdrawn", "resubmitted"]},
            },
            {"_id": 1, "title": 1},
        )
        return document

    async def set_status(
        self, evidence_id: str, expected: str, status: str, extra: Document | None = None
    ) -> bool:
        """Move evidence from ``expected`` to ``status``; False if it was not in ``expected``."""
        result = await self.evidence.update_one(
            {"_id": evidence_id, "status": expected},
            {"$set": {"status": status, **(extra or {})}},
        )
        return result.modified_count == 1

    async def record_review(
        self, institution_id: str, evidence_id: str, review: dict[str, Any]
    ) -> bool:
        """Apply a review outcome unless a later one is already recorded (redelivery, reorder)."""
        result = await self.evidence.update_one(
            {
                "_id": evidence_id,
                "institution_id": institution_id,
                "$or": [
                    {"review.decided_at": {"$exists": False}},
                    {"review.decided_at": {"$lt": review["decided_at"]}},
                ],
            },
            {"$set": {"review": review, "status": review["decision"]}},
        )
        return result.modified_count == 1

    async def mark_awarded(
        self, institution_id: str, evidence_ids: list[str], award_id: str
    ) -> None:
        await self.evidence.update_many(
            {"institution_id": institution_id, "_id": {"$in": evidence_ids}},
            {"$set": {"award_id": award_id}},
        )

    async def add_badge(self, badge: Document) -> None:
        try:
            await self.badges.insert_one(badge)
        except DuplicateKeyError:
            return

    async def badges_of(self, institution_id: str, learner_id: str) -> list[Document]:
        cursor = self.badges.find({"institution_id": institution_id, "learner_id": learner_id})
        return [document async for document in cursor]

    async def badge(self, credential_id: str) -> Document | None:
        document: Document | None = await self.badges.find_one(
            {"_id": credential_id}, {"institution_id": 1, "learner_id": 1}
        )
        return document

    async def award_owner(self, award_id: str) -> Document | None:
        """Institution and learner of an award, from its evidence or its badge; None if unseen."""
        projection = {"institution_id": 1, "learner_id": 1}
        document: Document | None = await self.evidence.find_one(
            {"award_id": award_id}, projection
        ) or await self.badges.find_one({"award_id": award_id}, projection)
        return document

    async def add_revocation(self, revocation: Document) -> bool:
        """Keep a revocation once (its ``_id`` is its natural key); False if kept already."""
        try:
            await self.revocations.insert_one(revocation)
        except DuplicateKeyError:
            return False
        return True

    async def revocations_of(self, institution_id: str, learner_id: str) -> list[Document]:
        cursor = self.revocations.find({"institution_id": institution_id, "learner_id": learner_id})
        return [document async for document in cursor]
