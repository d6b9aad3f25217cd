"""Intake's MongoDB adapter: institutions with their catalogues, learners, evidence records."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_intake.domain import InstitutionCreate, LearnerCreate
from microcred_shared.mongo import Document
from microcred_shared.outbox import ensure_outbox_index


class IntakeStore:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self.institutions = database["institutions"]
        self.learners = database["learners"]
        self.evidence = database["evidence"]

    async def ensure_indexes(self) -> None:
        await self.learners.create_index([("institution_id", ASCENDING), ("email", ASCENDING)])
        await self.evidence.create_index(
            [("institution_id", ASCENDING), ("learner_id", ASCENDING), ("submitted_at", ASCENDING)]
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

    async def institution(self, institution_id: str) -> InstitutionCreate | None:
        document = await self.institutions.find_one({"_id": institution_id})
        if document is None:
            return None
        document["id"] = document.pop("_id")
        return InstitutionCreate.model_validate(document)

    async def add_learner(
        self, institution_id: str, learner_id: str, learner: LearnerCreate
    ) -> None:
        await self.learners.insert_one(
            {"_id": learner_id, "institution_id": institution_id, **learner.model_dump()}
        )

    async def learner(self, institution_id: str, learner_id: str) -> LearnerCreate | None:
        document = await self.learners.find_one(
            {"_id": learner_id, "institution_id": institution_id}
        )
        if document is None:
            return None
        return LearnerCreate.model_validate({k: document[k] for k in ("name", "email", "locale")})

    async def add_evidence(self, document: Document) -> None:
        await self.evidence.insert_one(document)

    async def evidence_record(self, institution_id: str, evidence_id: str) -> Document | None:
        return await self.evidence.find_one(
            {"_id": evidence_id, "institution_id": institution_id}, {"outbox": 0}
        )

    async def evidence_of(self, institution_id: str, learner_id: str) -> list[Document]:
        cursor = self.evidence.find(
            {"institution_id": institution_id, "learner_id": learner_id}, {"outbox": 0}
        ).sort("submitted_at", ASCENDING)
        return [document async for document in cursor]

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
