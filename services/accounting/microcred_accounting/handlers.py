"""Accounting's use cases: post decisions to the ledger, award a competence exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_accounting.domain import (
    LedgerEntry,
    balance,
    counted_evidence,
    ects_for,
    ledger_key,
    threshold_reached,
)
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import CompetenceAwardedV1, EvidenceReviewedV1
from microcred_shared.kafka import RawEventPublisher
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import ensure_outbox_index, flush, outbox_fields

log = get_logger(__name__)

SOURCE = "/microcred/accounting"


def award_id_for(institution_id: str, learner_id: str, competence_id: str) -> str:
    return deterministic_event_id("award", institution_id, learner_id, competence_id)


@dataclass
class Accounting:
    database: AsyncDatabase[Document]
    publisher: RawEventPublisher

    @property
    def ledger(self) -> Any:
        return self.database["ledger"]

    @property
    def awards(self) -> Any:
        return self.database["awards"]

    async def ensure_indexes(self) -> None:
        await self.ledger.create_index(
            [("institution_id", ASCENDING), ("learner_id", ASCENDING), ("competence_id", ASCENDING)]
        )
        await self.awards.create_index([("institution_id", ASCENDING), ("learner_id", ASCENDING)])
        await ensure_outbox_index(self.awards)

    async def on_evidence_reviewed(self, envelope: Envelope[EvidenceReviewedV1]) -> None:
        """Post the decision (once, by its natural key), then award if the threshold is met.

        The award check runs on every delivery, duplicates included: a crash between posting
        and awarding is mended by the redelivery.
        """
        review = envelope.data
        if review.decision == "approved":
            await self._post(envelope, "approval", review.approved_hours)
        elif review.decision == "reversed":
            approval = await self.ledger.find_one(
                {"_id": ledger_key(review.evidence_id, "approval")}
            )
            if approval is not None:
                await self._post(envelope, "reversal", -approval["hours"].to_decimal())
        await self._award_if_due(envelope)

    async def _post(
        self, envelope: Envelope[EvidenceReviewedV1], kind: str, hours: Decimal
    ) -> None:
        review = envelope.data
        try:
            await self.ledger.insert_one(
                {
                    "_id": ledger_key(review.evidence_id, kind),
                    "institution_id": envelope.tenant,
                    "learner_id": review.learner_id,
                    "competence_id": review.competence.id,
                    "kind": kind,
                    "hours": Decimal128(hours),
                    "evidence_id": review.evidence_id,
                    "title": review.evidence_title,
                    "provider": review.evidence_provider,
                    "start_date": review.start_date.isoformat(),
                    "end_date": review.end_date.isoformat(),
                    "decision_id": review.decision_id,
                    "event_id": envelope.id,
                    "posted_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            log.info("ledger.duplicate_ignored", evidence_id=review.evidence_id, kind=kind)

    async def entries(
        self, institution_id: str, learner_id: str, competence_id: str
    ) -> list[LedgerEntry]:
        cursor = self.ledger.find(
            {
                "institution_id": institution_id,
                "learner_id": learner_id,
                "competence_id": competence_id,
            }
        )
        return [
            LedgerEntry(
                evidence_id=d["evidence_id"],
                kind=d["kind"],
                hours=d["hours"].to_decimal(),
                title=d["title"],
                provider=d["provider"],
                start_date=date.fromisoformat(d["start_date"]),
                end_date=date.fromisoformat(d["end_date"]),
            )
            async for d in cursor
        ]

    async def _award_if_due(self, envelope: Envelope[EvidenceReviewedV1]) -> None:
        review = envelope.data
        award_id = award_id_for(envelope.tenant, review.learner_id, review.competence.id)
        if await self.awards.find_one({"_id": award_id}, {"_id": 1}) is None:
            entries = await self.entries(envelope.tenant, review.learner_id, review.competence.id)
            hours = balance(entries)
            if not threshold_reached(hours, review.competence):
                return
            evidence = counted_evidence(entries)
            awarded_at = datetime.now(UTC)
            event = Envelope.wrap(
                CompetenceAwardedV1(
                    award_id=award_id,
                    learner_id=review.learner_id,
                    learner=review.learner,
                    institution=review.institution,
                    competence=review.competence,
                    hours=hours,
                    ects=ects_for(hours, review.competence),
                    evidence=tuple(evidence),
                    learning_started=min(e.start_date for e in evidence),
                    learning_ended=max(e.end_date for e in evidence),
                    awarded_at=awarded_at,
                ),
                source=SOURCE,
                subject=award_id,
                tenant=envelope.tenant,
                event_id=deterministic_event_id("competence-awarded", award_id),
                time=awarded_at,
            )
            try:
                # The award's id is its natural key: two consumers crossing the threshold at
                # once both try this insert, and only one succeeds.
                await self.awards.insert_one(
                    {
                        "_id": award_id,
                        "institution_id": envelope.tenant,
                        "learner_id": review.learner_id,
                        "competence_id": review.competence.id,
                        "hours": Decimal128(hours),
                        "awarded_at": awarded_at,
                        **outbox_fields([event]),
                    }
                )
                log.info("award.granted", award_id=award_id, hours=str(hours))
            except DuplicateKeyError:
                pass
        await flush(self.awards, award_id, self.publisher)

    async def progress(self, institution_id: str, learner_id: str) -> list[Document]:
        hours: dict[str, Decimal] = {}
        async for entry in self.ledger.find(
            {"institution_id": institution_id, "learner_id": learner_id},
            {"competence_id": 1, "hours": 1},
        ):
            competence = entry["competence_id"]
            hours[competence] = hours.get(competence, Decimal(0)) + entry["hours"].to_decimal()
        awarded = {
            d["competence_id"]
            async for d in self.awards.find(
                {"institution_id": institution_id, "learner_id": learner_id}, {"competence_id": 1}
            )
        }
        return [
            {"competence_id": c, "hours": str(h), "awarded": c in awarded}
            for c, h in sorted(hours.items())
        ]
