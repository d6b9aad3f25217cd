"""A submission that fails half-way leaves nothing behind: no object, no record, no event."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from http import HTTPStatus
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect

from microcred_intake.domain import EvidenceForm, InstitutionCreate
from microcred_intake.handlers import IncomingFile, Intake, Learner
from microcred_intake.store import IntakeStore
from microcred_shared.contracts.events import LearnerProfile
from microcred_shared.demo import demo_institution, minimal_pdf
from microcred_shared.http import ProblemError
from microcred_shared.s3 import ObjectStore
from microcred_shared.testing.fakes import RecordingPublisher

pytestmark = pytest.mark.integration


async def intake_over(
    store: IntakeStore, object_store: ObjectStore, publisher: RecordingPublisher
) -> Intake:
    """Intake's handlers over ``store``, with institution inst-a onboarded."""
    await store.ensure_indexes()
    await store.add_institution(InstitutionCreate.model_validate(demo_institution("inst-a")))
    return Intake(store, object_store, publisher, max_file_bytes=1 << 20, max_files=5)


def evidence_form(title: str) -> EvidenceForm:
    return EvidenceForm(
        competence_id="digcomp-3-1",
        title=title,
        hours=Decimal(10),
        start_date=date(2026, 1, 1),
        end_date=date(2026, 1, 5),
        provider="Hub",
    )


class BreaksOnSecondPass(io.BytesIO):
    """Reads whole once (the checks), then fails while being uploaded."""

    def __init__(self, content: bytes) -> None:
        super().__init__(content)
        self.passes = 0

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if offset == 0 and whence == io.SEEK_SET:
            self.passes += 1
        return super().seek(offset, whence)

    def read(self, size: int | None = -1) -> bytes:
        if self.passes >= 3:
            raise OSError("the client went away")
        return super().read(size)


async def test_objects_stored_before_a_failure_are_removed(
    database: AsyncDatabase[Any], object_store: ObjectStore
) -> None:
    store = IntakeStore(database)
    publisher = RecordingPublisher()
    intake = await intake_over(store, object_store, publisher)
    form = evidence_form("Two certificates")
    files = [
        IncomingFile("first.pdf", io.BytesIO(minimal_pdf("first"))),
        IncomingFile("second.pdf", BreaksOnSecondPass(minimal_pdf("second"))),
    ]
    learner = Learner("learner-1", LearnerProfile(name="Ada", email="ada@example.org"))

    with pytest.raises(OSError, match="client went away"):
        await intake.submit_evidence("inst-a", learner, form, files)

    failing = files[1].stream
    assert isinstance(failing, BreaksOnSecondPass)
    assert failing.passes >= 3  # it broke while uploading, after the first file was stored

    assert await object_store.keys() == []
    assert await store.evidence.count_documents({}) == 0
    assert publisher.published == []


class DiesAfterWriting(IntakeStore):
    """The database applies the insert, then the connection drops before its answer."""

    async def add_evidence(self, document: dict[str, Any]) -> None:
        await super().add_evidence(document)
        raise AutoReconnect("connection closed")


async def test_files_stay_when_the_record_was_written_though_the_database_failed(
    database: AsyncDatabase[Any], object_store: ObjectStore
) -> None:
    # Found by make chaos: the database killed mid-insert, the learner's retry told "kept"
    # (409 with the evidence's id), and its file deleted by this clean-up.
    store = DiesAfterWriting(database)
    intake = await intake_over(store, object_store, RecordingPublisher())
    form = evidence_form("A certificate")
    learner = Learner("learner-1", LearnerProfile(name="Ada", email="ada@example.org"))
    proof = minimal_pdf("kept")

    with pytest.raises(AutoReconnect):
        await intake.submit_evidence(
            "inst-a", learner, form, [IncomingFile("proof.pdf", io.BytesIO(proof))]
        )

    [record] = await store.evidence.find({}).to_list()
    assert [f["key"] for f in record["files"]] == await object_store.keys()
    # The learner sends it again: told it is kept, under the id whose file is there.
    with pytest.raises(ProblemError) as refused:
        await intake.submit_evidence(
            "inst-a", learner, form, [IncomingFile("proof.pdf", io.BytesIO(proof))]
        )
    assert refused.value.status == HTTPStatus.CONFLICT
    assert refused.value.extensions["evidence_id"] == record["_id"]
