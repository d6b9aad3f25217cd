"""Intake's use cases: onboarding, evidence submission, and review outcomes for the learner."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import IO

from pymongo.errors import ConnectionFailure, PyMongoError

from microcred_intake.domain import (
    SNIFF_BYTES,
    EvidenceForm,
    InstitutionCreate,
    badge_kind,
    object_key,
    sanitise_filename,
    sniff_content_type,
)
from microcred_intake.store import IntakeStore
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    AwardRevokedV1,
    CompetenceAwardedV1,
    CompetenceSnapshot,
    CredentialIssuedV1,
    CredentialRevokedV1,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    EvidenceWithdrawnV1,
    LearnerProfile,
    StoredFile,
)
from microcred_shared.http import ProblemError
from microcred_shared.kafka import RawEventPublisher, RefusedEventError
from microcred_shared.logging import get_logger
from microcred_shared.mongo import Document
from microcred_shared.outbox import append_to_outbox, flush, outbox_fields
from microcred_shared.s3 import ObjectStore

log = get_logger(__name__)

SOURCE = "/microcred/intake"
CHUNK = 1024 * 1024


@dataclass
class IncomingFile:
    filename: str | None
    stream: IO[bytes]


@dataclass(frozen=True)
class CheckedFile:
    incoming: IncomingFile
    name: str
    content_type: str
    size: int
    sha256: str


def field_problem(location: str, message: str) -> ProblemError:
    return ProblemError(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        "Invalid request",
        f"{location}: {message}",
        errors=[{"location": location, "message": message}],
    )


def check_file(incoming: IncomingFile, max_bytes: int, accepted: Sequence[str]) -> CheckedFile:
    """Hash and measure a file chunk by chunk, and recognise its type from its bytes."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    incoming.stream.seek(0)
    while chunk := incoming.stream.read(CHUNK):
        if len(head) < SNIFF_BYTES:
            head += chunk[: SNIFF_BYTES - len(head)]
        digest.update(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise ProblemError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "File too large",
                f"{incoming.filename!r} exceeds {max_bytes} bytes",
            )
    incoming.stream.seek(0)
    name = sanitise_filename(incoming.filename)
    if size == 0:
        raise field_problem("body.files", f"{name} is empty")
    content_type = sniff_content_type(head)
    if content_type is None or content_type not in accepted:
        raise ProblemError(
            HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
            "File type not accepted",
            f"{name} is not one of {', '.join(accepted)} (judged by its content, not its name)",
        )
    return CheckedFile(incoming, name, content_type, size, digest.hexdigest())


@dataclass(frozen=True)
class Learner:
    """The learner submitting, as their account knows them."""

    id: str
    profile: LearnerProfile


@dataclass
class Intake:
    store: IntakeStore
    objects: ObjectStore
    publisher: RawEventPublisher
    max_file_bytes: int
    max_files: int

    async def _validated(
        self, institution_id: str, form: EvidenceForm, files: list[IncomingFile]
    ) -> tuple[InstitutionCreate, CompetenceSnapshot, list[CheckedFile]]:
        """Everything a submission needs, checked before anything is stored."""
        institution = await self.store.institution(institution_id)
        if institution is None:
            raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown institution", institution_id)
        competence = institution.competence(form.competence_id)
        if competence is None:
            raise field_problem(
                "body.competence_id",
                f"{form.competence_id!r} is not in {institution.name}'s catalogue",
            )
        if form.hours > institution.max_hours_per_evidence:
            raise field_problem(
                "body.hours",
                f"at most {institution.max_hours_per_evidence} hours per piece of evidence",
            )
        if not files:
            raise field_problem("body.files", "attach at least one file")
        if len(files) > self.max_files:
            raise field_problem("body.files", f"at most {self.max_files} files")
        accepted = institution.accepted_file_types
        checked = [check_file(f, self.max_file_bytes, accepted) for f in files]
        return institution, competence, checked

    async def submit_evidence(
        self,
        institution_id: str,
        learner: Learner,
        form: EvidenceForm,
        files: list[IncomingFile],
        resubmission_of: str | None = None,
    ) -> dict[str, object]:
        """Validate everything, then store files, record and event; a refusal stores nothing."""
        institution, competence, checked = await self._validated(institution_id, form, files)
        duplicate = await self.store.already_submitted(learner.id, [f.sha256 for f in checked])
        if duplicate is not None and duplicate["_id"] != resubmission_of:
            raise ProblemError(
                HTTPStatus.CONFLICT,
                "File already submitted",
                f"this file is part of your evidence {duplicate['title']!r} already",
                evidence_id=duplicate["_id"],
            )

        evidence_id = str(uuid.uuid4())
        stored: list[StoredFile] = []
        try:
            for index, file in enumerate(checked):
                key = object_key(institution_id, learner.id, evidence_id, index, file.name)
                await self.objects.put_stream(
                    key,
                    file.incoming.stream,
                    file.content_type,
                    {"sha256": file.sha256, "evidence-id": evidence_id},
                )
                stored.append(
                    StoredFile(
                        key=key,
                        filename=file.name,
                        content_type=file.content_type,
                        size=file.size,
                        sha256=file.sha256,
                    )
                )
            submitted_at = datetime.now(UTC)
            event = Envelope.wrap(
                EvidenceSubmittedV1(
                    evidence_id=evidence_id,
                    learner_id=learner.id,
                    learner=learner.profile,
                    institution=institution.reference(),
                    competence=competence,
                    title=form.title,
                    hours=form.hours,
                    start_date=form.start_date,
                    end_date=form.end_date,
                    provider=form.provider,
                    kind=form.kind,
                    description=form.description,
                    files=tuple(stored),
                    submitted_at=submitted_at,
                ),
                source=SOURCE,
                subject=evidence_id,
                tenant=institution_id,
                event_id=deterministic_event_id("evidence-submitted", evidence_id),
            )
            record = {
                "_id": evidence_id,
                "institution_id": institution_id,
                "learner_id": learner.id,
                "competence_id": form.competence_id,
                "competence_title": competence.title,
                **form.model_dump(mode="json", exclude={"competence_id"}),
                "files": [f.model_dump() for f in stored],
                "status": "submitted",
                "submitted_at": submitted_at,
                **({"resubmission_of": resubmission_of} if resubmission_of else {}),
                **outbox_fields([event]),
            }
            await self.store.add_evidence(record)
        except BaseException as failure:
            # Nothing acknowledged, nothing kept: remove what was uploaded before the failure,
            # unless the record may have been written after all.
            if stored and await self._may_be_recorded(evidence_id, failure):
                log.warning(
                    "intake.objects_kept",
                    evidence_id=evidence_id,
                    keys=[f.key for f in stored],
                    reason="the database failed mid-write: the record may exist",
                )
                raise
            for stored_file in stored:
                try:
                    await self.objects.delete(stored_file.key)
                except Exception:  # noqa: BLE001 - best effort; the original error matters
                    log.warning("intake.cleanup_failed", key=stored_file.key)
            raise
        await self._publish(evidence_id)
        log.info("evidence.submitted", evidence_id=evidence_id, institution=institution_id)
        return public_record(record)

    async def _may_be_recorded(self, evidence_id: str, failure: BaseException) -> bool:
        """Whether the evidence's record may exist although writing it raised ``failure``.

        A connection lost during the insert is ambiguous: the database may have applied it and
        died before answering. Then the learner's retry is told the evidence is kept (409 with
        its id), so its files must stay. Kept when the record is there, or when the database
        cannot say yet (an object without a record harms no one; a record without its file
        loses an acknowledged upload).
        """
        if not isinstance(failure, ConnectionFailure):
            return False
        try:
            return await self.store.evidence.find_one({"_id": evidence_id}, {"_id": 1}) is not None
        except PyMongoError:
            return True

    async def _publish(self, evidence_id: str) -> None:
        try:
            await flush(self.store.evidence, evidence_id, self.publisher)
        except Exception:
            log.warning("intake.publish_deferred", evidence_id=evidence_id, exc_info=True)

    async def own_evidence(
        self, institution_id: str, learner_id: str, evidence_id: str
    ) -> Document:
        """The learner's own evidence; anyone else's is as unknown as evidence that is not."""
        record = await self.store.evidence_record(institution_id, evidence_id)
        if record is None or record["learner_id"] != learner_id:
            raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown evidence", evidence_id)
        return record

    async def withdraw(self, institution_id: str, learner_id: str, evidence_id: str) -> Document:
        """Withdraw evidence no one has decided on yet; review drops it from its queue."""
        record = await self.own_evidence(institution_id, learner_id, evidence_id)
        if record["status"] == "withdrawn":
            return public_record(record)
        withdrawn_at = datetime.now(UTC)
        event = Envelope.wrap(
            EvidenceWithdrawnV1(
                evidence_id=evidence_id, learner_id=learner_id, withdrawn_at=withdrawn_at
            ),
            source=SOURCE,
            subject=evidence_id,
            tenant=institution_id,
            event_id=deterministic_event_id("evidence-withdrawn", evidence_id),
            time=withdrawn_at,
        )
        update = append_to_outbox(event)
        update["$set"].update({"status": "withdrawn", "withdrawn_at": withdrawn_at})
        result = await self.store.evidence.update_one(
            {"_id": evidence_id, "status": "submitted"}, update
        )
        if result.modified_count != 1:
            raise ProblemError(
                HTTPStatus.CONFLICT,
                "Cannot withdraw",
                f"the evidence is {record['status']}; only evidence awaiting a decision can be "
                "withdrawn",
            )
        await self._publish(evidence_id)
        shown = await self.own_evidence(institution_id, learner_id, evidence_id)
        return public_record(shown)

    async def resubmit(
        self,
        institution_id: str,
        learner: Learner,
        evidence_id: str,
        form: EvidenceForm,
        files: list[IncomingFile],
    ) -> dict[str, object]:
        """Submit a corrected version of evidence an evaluator sent back for changes."""
        original = await self.own_evidence(institution_id, learner.id, evidence_id)
        if original["status"] != "changes_requested":
            raise ProblemError(
                HTTPStatus.CONFLICT,
                "Cannot resubmit",
                "only evidence an evaluator sent back with changes requested can be resubmitted",
            )
        record = await self.submit_evidence(
            institution_id, learner, form, files, resubmission_of=evidence_id
        )
        await self.store.set_status(
            evidence_id, "changes_requested", "resubmitted", {"resubmitted_as": record["id"]}
        )
        return record

    # --- what other services tell the learner ------------------------------------------------

    async def on_evidence_reviewed(self, envelope: Envelope[EvidenceReviewedV1]) -> None:
        review = envelope.data
        await self.store.record_review(
            envelope.tenant,
            review.evidence_id,
            {
                "decision": review.decision,
                "approved_hours": str(review.approved_hours),
                "reason": review.reason,
                "decided_at": review.decided_at,
            },
        )

    async def on_competence_awarded(self, envelope: Envelope[CompetenceAwardedV1]) -> None:
        award = envelope.data
        await self.store.mark_awarded(
            envelope.tenant, [e.evidence_id for e in award.evidence], award.award_id
        )

    async def on_credential_issued(self, envelope: Envelope[CredentialIssuedV1]) -> None:
        issued = envelope.data
        # The achievement's code is a competence's id, or a pathway's for a pathway credential;
        # which of the two, the issuer says by the achievement's type (the ids may coincide).
        achievement = issued.credential.get("credentialSubject", {}).get("achievement", {})
        await self.store.add_badge(
            {
                "_id": issued.credential_id,
                "institution_id": envelope.tenant,
                "learner_id": issued.learner_id,
                "award_id": issued.award_id,
                "kind": badge_kind(issued.credential),
                "competence_id": achievement.get("humanCode"),
                "title": issued.achievement_title,
                "issued_at": issued.issued_at,
            }
        )

    async def on_award_revoked(self, envelope: Envelope[AwardRevokedV1]) -> None:
        """Keep the revocation: the dashboard shows the award, and its badge, as revoked."""
        revoked = envelope.data
        owner = await self.store.award_owner(revoked.award_id)
        _same_tenant(envelope.tenant, revoked.learner_id, owner, f"award {revoked.award_id}")
        kept = await self.store.add_revocation(
            {
                # The natural key: a redelivered or republished revocation is kept once.
                "_id": f"award:{revoked.award_id}",
                "institution_id": envelope.tenant,
                "learner_id": revoked.learner_id,
                "award_id": revoked.award_id,
                "award_kind": revoked.award_kind,
                "achievement_id": revoked.achievement_id,
                "title": revoked.title,
                "reason": revoked.reason,
                "revoked_at": revoked.revoked_at,
                "event_id": envelope.id,
            }
        )
        if kept:
            log.info("award.revoked", award_id=revoked.award_id, institution=envelope.tenant)

    async def on_credential_revoked(self, envelope: Envelope[CredentialRevokedV1]) -> None:
        """Keep the revocation of a credential; it may arrive before the credential itself."""
        revoked = envelope.data
        badge = await self.store.badge(revoked.credential_id)
        _same_tenant(
            envelope.tenant, revoked.learner_id, badge, f"credential {revoked.credential_id}"
        )
        await self.store.add_revocation(
            {
                "_id": f"credential:{revoked.credential_id}",
                "institution_id": envelope.tenant,
                "learner_id": revoked.learner_id,
                "credential_id": revoked.credential_id,
                "award_id": revoked.award_id,
                "reason": revoked.reason,
                "revoked_at": revoked.revoked_at,
                "event_id": envelope.id,
            }
        )


def _same_tenant(tenant: str, learner_id: str, known: Document | None, what: str) -> None:
    """Refuse (dead-letter) an event about another institution's or another learner's record."""
    if known is None:
        # Not seen yet (topics are not ordered with each other): kept under the event's tenant
        # and learner, so it can only ever show on that learner's dashboard there.
        return
    if known.get("institution_id") != tenant:
        raise RefusedEventError(f"{what} belongs to another institution than {tenant}")
    if known.get("learner_id") != learner_id:
        raise RefusedEventError(f"{what} belongs to another learner than {learner_id}")


def public_record(record: dict[str, object]) -> dict[str, object]:
    """The evidence record as the API shows it: no outbox, ``id`` instead of ``_id``."""
    shown = {k: v for k, v in record.items() if not k.startswith("outbox") and k != "_id"}
    return {"id": record["_id"], **shown}
