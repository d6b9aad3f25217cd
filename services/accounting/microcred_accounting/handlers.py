"""Accounting's use cases: post decisions to the ledger, award a competence exactly once."""

from __future__ import annotations

import contextlib
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
from microcred_shared.contracts import Envelope, envelope_type
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    CompetenceAwardedV1,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
)
from microcred_shared.kafka import RawEventPublisher, RefusedEventError
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import ensure_outbox_index, flush, outbox_fields

log = get_logger(__name__)

SOURCE = "/microcred/accounting"


def award_id_for(institution_id: str, learner_id: str, competence_id: str) -> str:
    return deterministic_event_id("award", institution_id, learner_id, competence_id)


def ledger_entry(document: Document) -> LedgerEntry:
    return LedgerEntry(
        evidence_id=document["evidence_id"],
        kind=document["kind"],
        hours=document["hours"].to_decimal(),
        title=document["title"],
        provider=document["provider"],
        start_date=date.fromisoformat(document["start_date"]),
        end_date=date.fromisoformat(document["end_date"]),
    )


class UnknownEvidenceError(LookupError):
    """A decision on evidence accounting has not seen filed (yet)."""


@dataclass
class Accounting:
    database: AsyncDatabase[Document]
    publisher: RawEventPublisher

    @property
    def evidence(self) -> Any:
        """Accounting's own record of what was filed, which every decision is checked against."""
        return self.database["evidence"]

    @property
    def parked(self) -> Any:
        """Decisions that arrived before the evidence they decide on was seen filed."""
        return self.database["parked_decisions"]

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
        await self.parked.create_index([("evidence_id", ASCENDING)])

    async def on_evidence_submitted(self, envelope: Envelope[EvidenceSubmittedV1]) -> None:
        """Remember whose evidence it is and what it claims; a redelivery changes nothing."""
        evidence = envelope.data
        with contextlib.suppress(DuplicateKeyError):  # a redelivery
            await self.evidence.insert_one(
                {
                    "_id": evidence.evidence_id,
                    "institution_id": envelope.tenant,
                    "learner_id": evidence.learner_id,
                    "competence_id": evidence.competence.id,
                    "hours": Decimal128(evidence.hours),
                }
            )
        await self._apply_parked(evidence.evidence_id)

    async def _apply_parked(self, evidence_id: str) -> None:
        """Apply the decisions that waited for this evidence, in the order they were decided."""
        cursor = self.parked.find({"evidence_id": evidence_id, "refused": None})
        for parked in sorted([d async for d in cursor], key=lambda d: d["decided_at"]):
            envelope = envelope_type(EvidenceReviewedV1).model_validate_json(parked["event"])
            try:
                await self.on_evidence_reviewed(envelope)
            except RefusedEventError as refused:
                # Its dead-letter moment has passed; the refusal stays on record with the reason.
                log.warning("ledger.parked_refused", evidence_id=evidence_id, reason=refused.reason)
                await self.parked.update_one(
                    {"_id": parked["_id"]}, {"$set": {"refused": refused.reason}}
                )
                continue
            await self.parked.delete_one({"_id": parked["_id"]})

    async def check_against_filed(self, envelope: Envelope[EvidenceReviewedV1]) -> None:
        """Refuse a decision that contradicts the evidence as filed (whose, for what, how much).

        Only review may publish decisions, but a decision that names another institution's
        evidence must never move hours, whoever published it.
        """
        review = envelope.data
        filed = await self.evidence.find_one({"_id": review.evidence_id})
        if filed is None:
            raise UnknownEvidenceError(review.evidence_id)
        mismatches = [
            f"{what} is {filed[field]!s}, not {claimed!s}"
            for what, field, claimed in (
                ("institution", "institution_id", envelope.tenant),
                ("learner", "learner_id", review.learner_id),
                ("competence", "competence_id", review.competence.id),
                ("hours claimed", "hours", review.claimed_hours),
            )
            if (filed[field].to_decimal() if field == "hours" else filed[field]) != claimed
        ]
        if mismatches:
            raise RefusedEventError(
                f"decision {review.decision_id} contradicts evidence {review.evidence_id} "
                f"as filed: " + "; ".join(mismatches)
            )

    async def _park(self, envelope: Envelope[EvidenceReviewedV1]) -> None:
        """Keep a decision until its evidence is seen filed: the two topics are read apart.

        A decision can overtake the evidence-submitted event only when accounting's consumer of
        that topic lags; parking (rather than retrying) keeps the partition moving meanwhile.
        """
        try:
            await self.parked.insert_one(
                {
                    "_id": envelope.id,
                    "evidence_id": envelope.data.evidence_id,
                    "decided_at": envelope.data.decided_at,
                    "event": envelope.model_dump_json(),
                    "refused": None,
                    "parked_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            return
        log.info("ledger.decision_parked", evidence_id=envelope.data.evidence_id)
        # The evidence may have been filed between the check and the insert.
        if await self.evidence.find_one({"_id": envelope.data.evidence_id}, {"_id": 1}):
            await self._apply_parked(envelope.data.evidence_id)

    async def on_evidence_reviewed(self, envelope: Envelope[EvidenceReviewedV1]) -> None:
        """Post the decision (once, by its natural key), then award if the threshold is met.

        The award check runs on every delivery, duplicates included: a crash between posting
        and awarding is mended by the redelivery.
        """
        try:
            await self.check_against_filed(envelope)
        except UnknownEvidenceError:
            await self._park(envelope)
            return
        review = envelope.data
        if review.decision == "approved":
            await self._post(envelope, "approval", review.approved_hours)
        elif review.decision == "reversed":
            # Posted even before its approval arrives: it cancels the approval either way.
            approval = await self.ledger.find_one(
                {"_id": ledger_key(review.evidence_id, "approval")}
            )
            taken_back = -approval["hours"].to_decimal() if approval else Decimal(0)
            await self._post(envelope, "reversal", taken_back)
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
        return [ledger_entry(d) async for d in cursor]

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
        by_competence: dict[str, list[LedgerEntry]] = {}
        async for document in self.ledger.find(
            {"institution_id": institution_id, "learner_id": learner_id}
        ):
            by_competence.setdefault(document["competence_id"], []).append(ledger_entry(document))
        hours = {c: balance(entries) for c, entries in by_competence.items()}
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
