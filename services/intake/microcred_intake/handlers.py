"""Intake's use cases: onboarding, evidence submission, and review outcomes for the learner."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import IO

from microcred_intake.domain import (
    SNIFF_BYTES,
    EvidenceForm,
    InstitutionCreate,
    LearnerCreate,
    object_key,
    sanitise_filename,
    sniff_content_type,
)
from microcred_intake.store import IntakeStore
from microcred_shared.contracts import Envelope
from microcred_shared.contracts.envelope import deterministic_event_id
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    EvidenceReviewedV1,
    EvidenceSubmittedV1,
    LearnerProfile,
    StoredFile,
)
from microcred_shared.http import ProblemError
from microcred_shared.kafka import RawEventPublisher
from microcred_shared.logging import get_logger
from microcred_shared.outbox import flush, outbox_fields
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


def check_file(incoming: IncomingFile, max_bytes: int) -> CheckedFile:
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
        raise ProblemError(HTTPStatus.UNPROCESSABLE_ENTITY, "Empty file", f"{name} is empty")
    content_type = sniff_content_type(head)
    if content_type is None:
        raise ProblemError(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "File type not accepted",
            f"{name} is not a PDF, PNG or JPEG file (judged by its content, not its name)",
        )
    return CheckedFile(incoming, name, content_type, size, digest.hexdigest())


@dataclass
class Intake:
    store: IntakeStore
    objects: ObjectStore
    publisher: RawEventPublisher
    max_file_bytes: int
    max_files: int

    async def _validated(
        self, institution_id: str, form: EvidenceForm, files: list[IncomingFile]
    ) -> tuple[InstitutionCreate, CompetenceSnapshot, LearnerCreate, list[CheckedFile]]:
        """Everything a submission needs, checked before anything is stored."""
        institution = await self.store.institution(institution_id)
        if institution is None:
            raise ProblemError(HTTPStatus.NOT_FOUND, "Unknown institution", institution_id)
        competence = institution.competence(form.competence_id)
        if competence is None:
            raise ProblemError(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "Unknown competence",
                f"{form.competence_id!r} is not in {institution_id}'s catalogue",
            )
        learner = await self.store.learner(institution_id, form.learner_id)
        if learner is None:
            raise ProblemError(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "Unknown learner",
                f"{form.learner_id!r} is not a learner of {institution_id}",
            )
        if not files:
            raise ProblemError(HTTPStatus.UNPROCESSABLE_ENTITY, "No file", "attach a file")
        if len(files) > self.max_files:
            raise ProblemError(
                HTTPStatus.UNPROCESSABLE_ENTITY, "Too many files", f"at most {self.max_files}"
            )
        checked = [check_file(f, self.max_file_bytes) for f in files]
        return institution, competence, learner, checked

    async def submit_evidence(
        self, institution_id: str, form: EvidenceForm, files: list[IncomingFile]
    ) -> dict[str, object]:
        """Validate everything, then store files, record and event; a refusal stores nothing."""
        institution, competence, learner, checked = await self._validated(
            institution_id, form, files
        )
        evidence_id = str(uuid.uuid4())
        stored: list[StoredFile] = []
        try:
            for index, file in enumerate(checked):
                key = object_key(institution_id, form.learner_id, evidence_id, index, file.name)
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
                    learner_id=form.learner_id,
                    learner=LearnerProfile.model_validate(learner.model_dump()),
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
                "learner_id": form.learner_id,
                "competence_id": form.competence_id,
                "competence_title": competence.title,
                **form.model_dump(mode="json", exclude={"learner_id", "competence_id"}),
                "files": [f.model_dump() for f in stored],
                "status": "submitted",
                "submitted_at": submitted_at,
                **outbox_fields([event]),
            }
            await self.store.add_evidence(record)
        except BaseException:
            # Nothing acknowledged, nothing kept: remove what was uploaded before the failure.
            for stored_file in stored:
                try:
                    await self.objects.delete(stored_file.key)
                except Exception:  # noqa: BLE001 - best effort; the original error matters
                    log.warning("intake.cleanup_failed", key=stored_file.key)
            raise
        try:
            await flush(self.store.evidence, evidence_id, self.publisher)
        except Exception:
            log.warning("intake.publish_deferred", evidence_id=evidence_id, exc_info=True)
        log.info("evidence.submitted", evidence_id=evidence_id, institution=institution_id)
        return public_record(record)

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


def public_record(record: dict[str, object]) -> dict[str, object]:
    """The evidence record as the API shows it: no outbox, ``id`` instead of ``_id``."""
    shown = {k: v for k, v in record.items() if not k.startswith("outbox") and k != "_id"}
    return {"id": record["_id"], **shown}
