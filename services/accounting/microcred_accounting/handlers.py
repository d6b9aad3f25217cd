"""Accounting's use cases: post decisions to the ledger, keep awards in step with the balances.

Awards follow the ledger: a balance over its threshold holds exactly one active award; a
reversal that takes it below revokes that award; climbing back over grants a new one (its
generation counts the revoked ones, so its id is again deterministic). Pathway awards follow the
competence awards they stack (``stacking``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from bson.decimal128 import Decimal128
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_accounting.awards import (
    RECONCILE_ROUNDS,
    SOURCE,
    AwardBook,
    UnsettledError,
    award_id_for,
)
from microcred_accounting.domain import (
    LedgerEntry,
    balance,
    competence_revocation_reason,
    counted_evidence,
    ects_for,
    ledger_key,
    next_award_step,
    threshold_reached,
)
from microcred_accounting.pathways import component_key
from microcred_accounting.stacking import Stacking
from microcred_shared.contracts import Envelope, envelope_type, topics
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    CompetenceAwardedV1,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    EvidenceWithdrawnV1,
)
from microcred_shared.kafka import DeadLetterPublisher, RawEventPublisher, RefusedEventError
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import ensure_outbox_index, outbox_fields

log = get_logger(__name__)

#: Evidence states that wait for an evaluator. Evidence sent back for changes waits for the
#: learner instead, whose new version is filed as new evidence.
OPEN_EVIDENCE = ("pending",)


class AccountingPublisher(RawEventPublisher, DeadLetterPublisher, Protocol):
    """What accounting publishes: its events (through the outbox) and refused decisions."""


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
    publisher: AccountingPublisher
    #: How long a decision on evidence never seen filed waits before it is dead-lettered.
    unknown_evidence_grace: timedelta = timedelta(minutes=10)
    book: AwardBook = field(init=False)
    stacking: Stacking = field(init=False)

    def __post_init__(self) -> None:
        self.book = AwardBook(self.database["awards"], self.publisher)
        self.stacking = Stacking(
            self.database["pathways"], self.database["award_sharing"], self.book
        )

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
        """Competence and pathway awards, each with the events it owes (its outbox)."""
        return self.book.collection

    async def ensure_indexes(self) -> None:
        await self.ledger.create_index(
            [("institution_id", ASCENDING), ("learner_id", ASCENDING), ("competence_id", ASCENDING)]
        )
        await self.awards.create_index([("learner_id", ASCENDING), ("component_key", ASCENDING)])
        await self.awards.create_index([("institution_id", ASCENDING), ("kind", ASCENDING)])
        await self.awards.create_index([("learner_id", ASCENDING), ("stacked_keys", ASCENDING)])
        await ensure_outbox_index(self.awards)
        await self.parked.create_index([("evidence_id", ASCENDING)])
        await self.evidence.create_index([("institution_id", ASCENDING), ("status", ASCENDING)])
        await self.stacking.ensure_indexes()
        await self.book.backfill()

    # --- evidence, as intake files and withdraws it -------------------------------------------

    async def on_evidence_submitted(self, envelope: Envelope[EvidenceSubmittedV1]) -> None:
        """Remember whose evidence it is and what it claims; a redelivery changes nothing."""
        evidence = envelope.data
        filed = {
            "institution_id": envelope.tenant,
            "learner_id": evidence.learner_id,
            "competence_id": evidence.competence.id,
            "competence_title": evidence.competence.title,
            "hours": Decimal128(evidence.hours),
            "filed_at": evidence.submitted_at,
        }
        try:
            await self.evidence.insert_one(
                {"_id": evidence.evidence_id, **filed, "status": "pending"}
            )
        except DuplicateKeyError:
            # A redelivery, or the withdrawal was read first and left its mark: complete it.
            await self.evidence.update_one(
                {
                    "_id": evidence.evidence_id,
                    "institution_id": envelope.tenant,
                    "learner_id": {"$exists": False},
                },
                {"$set": filed},
            )
        await self._apply_parked(evidence.evidence_id)

    async def on_evidence_withdrawn(self, envelope: Envelope[EvidenceWithdrawnV1]) -> None:
        """Withdrawn evidence no longer waits for a decision (it never counted any hours).

        The two topics are read apart: a withdrawal read before its evidence leaves a mark that
        the evidence, when it is read, completes (still withdrawn).
        """
        withdrawn = await self.evidence.update_one(
            {
                "_id": envelope.data.evidence_id,
                "institution_id": envelope.tenant,
                "status": {"$in": list(OPEN_EVIDENCE)},
            },
            {"$set": {"status": "withdrawn"}},
        )
        if withdrawn.matched_count == 0:
            with contextlib.suppress(DuplicateKeyError):  # filed meanwhile, or foreign
                await self.evidence.update_one(
                    {"_id": envelope.data.evidence_id},
                    {
                        "$setOnInsert": {
                            "institution_id": envelope.tenant,
                            "status": "withdrawn",
                        }
                    },
                    upsert=True,
                )
            await self.evidence.update_one(
                {
                    "_id": envelope.data.evidence_id,
                    "institution_id": envelope.tenant,
                    "status": {"$in": list(OPEN_EVIDENCE)},
                },
                {"$set": {"status": "withdrawn"}},
            )

    async def _apply_parked(self, evidence_id: str) -> None:
        """Apply the decisions that waited for this evidence, in the order they were decided."""
        cursor = self.parked.find({"evidence_id": evidence_id, "refused": None})
        for parked in sorted([d async for d in cursor], key=lambda d: d["decided_at"]):
            # Claimed first, so that the sweep never dead-letters a decision being applied.
            await self.parked.update_one({"_id": parked["_id"]}, {"$set": {"applying": True}})
            envelope = envelope_type(EvidenceReviewedV1).model_validate_json(parked["event"])
            try:
                await self.on_evidence_reviewed(envelope)
            except RefusedEventError as refused:
                log.warning("ledger.parked_refused", evidence_id=evidence_id, reason=refused.reason)
                await self._dead_letter(parked, envelope, refused.reason)
                continue
            await self.parked.delete_one({"_id": parked["_id"]})

    async def _dead_letter(
        self, parked: Document, envelope: Envelope[EvidenceReviewedV1], reason: str
    ) -> None:
        """Refuse a parked decision for good: on record first, then on the dead-letter topic.

        The mark says the dead letter is owed, so a crash before it is sent leaves the sweep
        to send it.
        """
        await self.parked.update_one(
            {"_id": parked["_id"]},
            {"$set": {"refused": reason, "dead_letter_owed": True}},
        )
        await self.publisher.publish_dead_letter(
            topics.EVIDENCE_REVIEWED, envelope.key(), envelope.to_bytes(), reason
        )
        await self.parked.update_one(
            {"_id": parked["_id"]},
            {"$set": {"dead_letter_owed": False, "dead_lettered_at": datetime.now(UTC)}},
        )

    async def dead_letter_stale_parked(self, now: datetime | None = None) -> int:
        """Dead-letter the decisions whose evidence was not filed within the grace period.

        A decision may overtake its evidence by moments (the topics are read apart); one that
        waits longer names evidence that was never filed, and goes where refused decisions go.
        Returns how many were dead-lettered.
        """
        cutoff = (now or datetime.now(UTC)) - self.unknown_evidence_grace
        dead_lettered = 0
        owed = self.parked.find({"dead_letter_owed": True, "parked_at": {"$lte": cutoff}})
        stale = self.parked.find(
            {"refused": None, "applying": {"$ne": True}, "parked_at": {"$lte": cutoff}}
        )
        for parked in [d async for d in owed] + [d async for d in stale]:
            envelope = envelope_type(EvidenceReviewedV1).model_validate_json(parked["event"])
            evidence_id = envelope.data.evidence_id
            if parked["refused"] is None:
                if await self.evidence.find_one(
                    {"_id": evidence_id, "learner_id": {"$exists": True}}
                ):
                    # Filed after all (a crash came between parking and applying).
                    await self._apply_parked(evidence_id)
                    continue
                reason = (
                    f"unknown evidence: {evidence_id} was not filed within "
                    f"{int(self.unknown_evidence_grace.total_seconds())} s of the decision"
                )
                claimed = await self.parked.update_one(
                    {"_id": parked["_id"], "refused": None, "applying": {"$ne": True}},
                    {"$set": {"refused": reason, "dead_letter_owed": True}},
                )
                if not claimed.modified_count:
                    continue  # another instance, or the evidence, got there first
            else:
                reason = parked["refused"]
            await self._dead_letter(parked, envelope, reason)
            dead_lettered += 1
        return dead_lettered

    # --- decisions -----------------------------------------------------------------------------

    async def check_against_filed(self, envelope: Envelope[EvidenceReviewedV1]) -> None:
        """Refuse a decision that contradicts the evidence as filed (whose, for what, how much).

        Only review may publish decisions, but a decision that names another institution's
        evidence must never move hours, whoever published it.
        """
        review = envelope.data
        filed = await self.evidence.find_one(
            {"_id": review.evidence_id, "learner_id": {"$exists": True}}
        )
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
        What waits past the grace period is dead-lettered (``dead_letter_stale_parked``).
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
        if await self.evidence.find_one(
            {"_id": envelope.data.evidence_id, "learner_id": {"$exists": True}}, {"_id": 1}
        ):
            await self._apply_parked(envelope.data.evidence_id)

    async def on_evidence_reviewed(self, envelope: Envelope[EvidenceReviewedV1]) -> None:
        """Post the decision (once, by its natural key), then bring the awards in step.

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
        await self._record_outcome(review)
        await self.reconcile_competence(envelope.tenant, review)

    async def _record_outcome(self, review: EvidenceReviewedV1) -> None:
        # A reversal is final whichever order the two decisions arrive in.
        status = "reversed" if review.decision == "reversed" else review.decision
        guard = {} if status == "reversed" else {"status": {"$ne": "reversed"}}
        await self.evidence.update_one(
            {"_id": review.evidence_id, **guard},
            {"$set": {"status": status, "decided_at": review.decided_at}},
        )

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
                    "competence_title": review.competence.title,
                    "hours_per_ects": Decimal128(review.competence.hours_per_ects),
                    "ects_required": Decimal128(review.competence.ects_required),
                    "kind": kind,
                    "hours": Decimal128(hours),
                    "evidence_id": review.evidence_id,
                    "title": review.evidence_title,
                    "provider": review.evidence_provider,
                    "start_date": review.start_date.isoformat(),
                    "end_date": review.end_date.isoformat(),
                    "decision_id": review.decision_id,
                    "reason": review.reason,
                    "decided_at": review.decided_at,
                    "event_id": envelope.id,
                    "posted_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            log.info("ledger.duplicate_ignored", evidence_id=review.evidence_id, kind=kind)

    async def entries(
        self, institution_id: str, learner_id: str, competence_id: str
    ) -> list[LedgerEntry]:
        return [
            ledger_entry(d)
            for d in await self._entry_documents(institution_id, learner_id, competence_id)
        ]

    async def _entry_documents(
        self, institution_id: str, learner_id: str, competence_id: str
    ) -> list[Document]:
        cursor = self.ledger.find(
            {
                "institution_id": institution_id,
                "learner_id": learner_id,
                "competence_id": competence_id,
            }
        )
        return [d async for d in cursor]

    # --- competence awards ---------------------------------------------------------------------

    async def reconcile_competence(self, institution_id: str, review: EvidenceReviewedV1) -> None:
        """Grant or revoke the competence's award until it matches the balance, then publish."""
        key = component_key(institution_id, review.competence.id)
        changed = False
        for _ in range(RECONCILE_ROUNDS):
            documents = await self._entry_documents(
                institution_id, review.learner_id, review.competence.id
            )
            entries = [ledger_entry(d) for d in documents]
            hours = balance(entries)
            current = await self.book.latest(review.learner_id, key)
            step = next_award_step(
                current["status"] if current else None, threshold_reached(hours, review.competence)
            )
            if step is None:
                break
            changed = True
            if step == "grant" or current is None:
                generation = current["generation"] + 1 if current else 0
                await self._grant_competence(institution_id, review, entries, hours, generation)
            else:
                reversal = _latest_reversal(documents)
                reason = competence_revocation_reason(
                    hours,
                    review.competence,
                    _approval_of(documents, reversal),
                    reversal["reason"] if reversal else "",
                )
                await self.book.revoke(current, reason)
        else:
            raise UnsettledError(f"award {key} of {review.learner_id} kept changing")
        await self.book.flush_pending(review.learner_id, key)
        if changed or review.decision in ("approved", "reversed"):
            await self.stacking.reconcile_with(review.learner_id, key)

    async def _grant_competence(
        self,
        institution_id: str,
        review: EvidenceReviewedV1,
        entries: list[LedgerEntry],
        hours: Decimal,
        generation: int,
    ) -> None:
        award_id = award_id_for(institution_id, review.learner_id, review.competence.id, generation)
        evidence = counted_evidence(entries)
        awarded_at = datetime.now(UTC)
        ects = ects_for(hours, review.competence)
        event = Envelope.wrap(
            CompetenceAwardedV1(
                award_id=award_id,
                learner_id=review.learner_id,
                learner=review.learner,
                institution=review.institution,
                competence=review.competence,
                hours=hours,
                ects=ects,
                evidence=tuple(evidence),
                learning_started=min(e.start_date for e in evidence),
                learning_ended=max(e.end_date for e in evidence),
                awarded_at=awarded_at,
            ),
            source=SOURCE,
            subject=award_id,
            tenant=institution_id,
            event_id=deterministic_event_id("competence-awarded", award_id),
            time=awarded_at,
        )
        try:
            # The award's id is its natural key: two consumers crossing the threshold at once
            # both try this insert, and only one succeeds.
            await self.awards.insert_one(
                {
                    "_id": award_id,
                    "kind": "competence",
                    "institution_id": institution_id,
                    "learner_id": review.learner_id,
                    "achievement_id": review.competence.id,
                    "component_key": component_key(institution_id, review.competence.id),
                    "generation": generation,
                    "title": review.competence.title,
                    "status": "active",
                    "hours": Decimal128(hours),
                    "ects": Decimal128(ects),
                    "awarded_at": awarded_at,
                    "revoked_at": None,
                    "revocation_reason": None,
                    # Kept so that a pathway can stack this award without asking anyone.
                    "learner": review.learner.model_dump(mode="json"),
                    "institution": review.institution.model_dump(mode="json"),
                    "competence": review.competence.model_dump(mode="json"),
                    **outbox_fields([event]),
                }
            )
            log.info("award.granted", award_id=award_id, hours=str(hours))
        except DuplicateKeyError:
            pass


def _latest_reversal(documents: list[Document]) -> Document | None:
    reversals = [d for d in documents if d["kind"] == "reversal"]
    return max(reversals, key=lambda d: d["posted_at"], default=None)


def _approval_of(documents: list[Document], reversal: Document | None) -> LedgerEntry | None:
    if reversal is None:
        return None
    return next(
        (
            ledger_entry(d)
            for d in documents
            if d["kind"] == "approval" and d["evidence_id"] == reversal["evidence_id"]
        ),
        None,
    )
