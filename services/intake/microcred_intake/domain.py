"""Intake's rules, free of I/O: institutions, the evidence form, file names and file types."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from microcred_shared.contracts.envelope import Identifier, InstitutionId
from microcred_shared.contracts.events import (
    CompetenceSnapshot,
    CountryCode,
    InstitutionRef,
    Locale,
    LongText,
    ShortText,
)

EvidenceKind = Literal[
    "course", "workshop", "work_experience", "volunteering", "self_study", "other"
]

#: What a badge is the credential of: a competence, or a pathway stacking competences.
BadgeKind = Literal["competence", "pathway"]
#: The issuer's ``achievementType`` of a pathway's credential (OBv3's ``Certificate``); a
#: competence's credential is a ``MicroCredential``.
PATHWAY_ACHIEVEMENT_TYPE = "Certificate"


def badge_kind(credential: Mapping[str, Any]) -> BadgeKind:
    """A credential's kind, as the issuer marks it: its achievement's ``achievementType``.

    Never guessed from the achievement's code: a pathway's id may equal a competence's.
    """
    subject = credential.get("credentialSubject")
    achievement = subject.get("achievement") if isinstance(subject, Mapping) else None
    kind = achievement.get("achievementType") if isinstance(achievement, Mapping) else None
    return "pathway" if kind == PATHWAY_ACHIEVEMENT_TYPE else "competence"


#: File types intake can recognise from a file's first bytes (never from its name or the type
#: the browser claims). Each institution accepts a subset; PDF, PNG and JPEG by default.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # and "WEBP" at offset 8, checked below
    "application/zip": (b"PK\x03\x04",),  # also DOCX, ODT and other office formats
}
FileType = Literal[
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "application/zip"
]
DEFAULT_FILE_TYPES: tuple[FileType, ...] = ("application/pdf", "image/png", "image/jpeg")
SNIFF_BYTES = 16


class EvidenceForm(BaseModel):
    """The short form a learner fills in for one piece of evidence."""

    # The multipart body also carries the files (and a CSRF token), handled separately.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    competence_id: Identifier
    title: ShortText
    hours: Annotated[Decimal, Field(gt=0, max_digits=9, decimal_places=2)]
    start_date: date
    end_date: date
    provider: ShortText
    kind: EvidenceKind = "course"
    description: LongText = ""

    @field_validator("end_date")
    @classmethod
    def _period_is_ordered_and_past(cls, end_date: date, info: ValidationInfo) -> date:
        start_date = info.data.get("start_date")
        if start_date is not None and end_date < start_date:
            raise ValueError("the end date is before the start date")
        if end_date > datetime.now(UTC).date():
            raise ValueError("the end date is in the future: evidence is of learning done")
        return end_date


class InstitutionCreate(BaseModel):
    """An institution with its competence catalogue, as a platform admin onboards it."""

    model_config = ConfigDict(extra="forbid")

    id: InstitutionId
    name: ShortText
    country: CountryCode
    awarding_body_name: ShortText | None = None
    awarding_body_country: CountryCode | None = None
    quality_assurance: LongText = ""
    url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    logo_url: Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://")] | None = (
        None
    )
    locales: list[Locale] = Field(default_factory=lambda: ["en"], min_length=1, max_length=24)
    max_hours_per_evidence: Annotated[Decimal, Field(gt=0, le=10_000)] = Decimal(1000)
    accepted_file_types: list[FileType] = Field(
        default_factory=lambda: list(DEFAULT_FILE_TYPES), min_length=1
    )
    competences: list[CompetenceSnapshot] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _competence_ids_are_unique(self) -> Self:
        ids = [c.id for c in self.competences]
        if len(ids) != len(set(ids)):
            raise ValueError("competence ids must be unique within an institution")
        return self

    def reference(self) -> InstitutionRef:
        return InstitutionRef.model_validate(
            self.model_dump(
                include={
                    "id",
                    "name",
                    "country",
                    "awarding_body_name",
                    "awarding_body_country",
                    "quality_assurance",
                    "url",
                }
            )
        )

    def competence(self, competence_id: str) -> CompetenceSnapshot | None:
        return next((c for c in self.competences if c.id == competence_id), None)


def sniff_content_type(head: bytes) -> str | None:
    """Return the type whose signature starts ``head``, or None."""
    for content_type, signatures in SIGNATURES.items():
        if any(head.startswith(signature) for signature in signatures):
            if content_type == "image/webp" and head[8:12] != b"WEBP":
                continue
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
