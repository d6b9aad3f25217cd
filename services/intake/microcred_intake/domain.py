"""Intake's rules, free of I/O: what an evidence form must hold and how its files are named."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from microcred_shared.contracts.envelope import Identifier
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    CountryCode,
    Email,
    InstitutionRef,
    Locale,
    LongText,
    ShortText,
)

EvidenceKind = Literal[
    "course", "workshop", "work_experience", "volunteering", "self_study", "other"
]

#: File types accepted by default, recognised from the file's first bytes (not its name).
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
SNIFF_BYTES = 16


class EvidenceForm(BaseModel):
    """The short form a learner fills in for one piece of evidence."""

    # The multipart body also carries the files, which FastAPI hands over separately.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    learner_id: Identifier
    competence_id: Identifier
    title: ShortText
    hours: Annotated[Decimal, Field(gt=0, le=10_000, max_digits=9, decimal_places=2)]
    start_date: date
    end_date: date
    provider: ShortText
    kind: EvidenceKind = "course"
    description: LongText = ""

    @model_validator(mode="after")
    def _period_is_ordered(self) -> Self:
        if self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self


class InstitutionCreate(BaseModel):
    """An institution with its competence catalogue, as a platform admin onboards it."""

    model_config = ConfigDict(extra="forbid")

    id: Identifier
    name: ShortText
    country: CountryCode
    awarding_body_name: ShortText | None = None
    awarding_body_country: CountryCode | None = None
    quality_assurance: LongText = ""
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    competences: list[CompetenceSnapshot] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _competence_ids_are_unique(self) -> Self:
        ids = [c.id for c in self.competences]
        if len(ids) != len(set(ids)):
            raise ValueError("competence ids must be unique within an institution")
        return self

    def reference(self) -> InstitutionRef:
        return InstitutionRef.model_validate(self.model_dump(exclude={"competences"}))

    def competence(self, competence_id: str) -> CompetenceSnapshot | None:
        return next((c for c in self.competences if c.id == competence_id), None)


class LearnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: ShortText
    email: Email
    locale: Locale = "en"


def sniff_content_type(head: bytes) -> str | None:
    """Return the allowed type whose signature starts ``head``, or None."""
    for content_type, signatures in SIGNATURES.items():
        if any(head.startswith(signature) for signature in signatures):
            return content_type
    return None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def sanitise_filename(name: str | None, fallback: str = "file") -> str:
    """Return a name safe in object keys and downloads: no path, no control or odd characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    cleaned = _UNSAFE.sub("_", ascii_name).strip("._")[:120]
    return cleaned or fallback


def object_key(
    institution_id: str, learner_id: str, evidence_id: str, index: int, name: str
) -> str:
    return f"{institution_id}/{learner_id}/{evidence_id}/{index:02d}-{name}"
