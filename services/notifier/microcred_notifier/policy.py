"""What an institution decides about its claims: link lifetime, second check, privacy terms, logo.

Pure rules; the notifier stores the settings (``Policies``) and applies them when it sends a link
and when a learner claims.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from microcred_shared.mongo import Document

SecondCheck = Literal["none", "email_code", "account"]
SECOND_CHECKS: tuple[SecondCheck, ...] = ("none", "email_code", "account")

LOGO_TYPES = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
LOGO_MAX_BYTES = 256 * 1024

DEFAULT_TERMS_VERSION = "microcred-1"
DEFAULT_TERMS = """\
{institution} issues this credential to you and keeps a record of it: your name, your e-mail \
address, the evidence you submitted and the decisions taken on it. This record exists to issue \
the credential, to let anyone you show it to check that it is genuine, and to withdraw it if it \
was issued in error.

When you claim the credential, your consent to these terms is recorded with the date. You \
decide who sees the credential: you can download it, and you can create public links that show \
only what you choose; you can withdraw such a link at any time. Anyone who checks the \
credential learns whether it is still valid, never why it was withdrawn.

You can ask {institution} for a copy of what it keeps about you, or to correct it."""


class PrivacyTerms(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,40}$")] = Field(
        description="Names this text; a new text needs a new version (consents cite it)."
    )
    text: Annotated[str, StringConstraints(min_length=20, max_length=20_000)]


class Logo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    media_type: Literal["image/png", "image/jpeg"]
    data_base64: Annotated[str, StringConstraints(max_length=LOGO_MAX_BYTES * 4 // 3 + 8)]

    @field_validator("data_base64")
    @classmethod
    def _is_that_image(cls, value: str) -> str:
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("data_base64 is not base64") from exc
        if not data or len(data) > LOGO_MAX_BYTES:
            raise ValueError(f"the logo must be 1 byte to {LOGO_MAX_BYTES // 1024} KiB")
        return value

    def data(self) -> bytes:
        return base64.b64decode(self.data_base64)

    @model_validator(mode="after")
    def _bytes_match_type(self) -> Logo:
        if not self.data().startswith(LOGO_TYPES[self.media_type]):
            raise ValueError(f"the logo's bytes are not {self.media_type}")
        return self


class ClaimSettings(BaseModel):
    """An institution's claim settings (``PUT /institutions/{id}/claim-settings``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    claim_valid_days: int | None = Field(
        default=None,
        ge=1,
        le=365,
        description="Life of a claim link; the platform's default if unset.",
    )
    second_check: SecondCheck = Field(
        default="none",
        description=(
            "After consent: nothing more, a one-time code e-mailed to the learner, or the "
            "learner's account login."
        ),
    )
    privacy_terms: PrivacyTerms | None = Field(
        default=None, description="The institution's privacy terms; the platform's if unset."
    )
    logo: Logo | None = Field(default=None, description="PNG or JPEG, at most 256 KiB.")


class TermsConflictError(ValueError):
    """A terms version already names another text."""


def default_terms(institution_name: str) -> PrivacyTerms:
    return PrivacyTerms(
        version=DEFAULT_TERMS_VERSION, text=DEFAULT_TERMS.format(institution=institution_name)
    )


class Policies:
    """The stored settings of each institution, and every version of its privacy terms."""

    def __init__(self, database: AsyncDatabase[Document], default_valid_days: int) -> None:
        self.settings = database["claim_settings"]
        self.terms = database["privacy_terms"]
        self.default_valid_days = default_valid_days

    async def put(self, institution_id: str, settings: ClaimSettings) -> None:
        terms = settings.privacy_terms
        if terms is not None:
            await self._keep_terms(institution_id, terms)
        document = settings.model_dump(mode="json")
        document["updated_at"] = datetime.now(UTC)
        await self.settings.replace_one({"_id": institution_id}, document, upsert=True)

    async def _keep_terms(self, institution_id: str, terms: PrivacyTerms) -> None:
        key = {"_id": f"{institution_id}/{terms.version}"}
        try:
            await self.terms.insert_one(
                {
                    **key,
                    "institution_id": institution_id,
                    "version": terms.version,
                    "text": terms.text,
                    "published_at": datetime.now(UTC),
                }
            )
        except DuplicateKeyError:
            kept = await self.terms.find_one(key)
            if kept is None or kept["text"] != terms.text:
                raise TermsConflictError(
                    f"terms version {terms.version!r} already names another text; "
                    "publish the new text under a new version"
                ) from None

    async def get(self, institution_id: str) -> ClaimSettings:
        found = await self.settings.find_one({"_id": institution_id}, {"updated_at": 0, "_id": 0})
        return ClaimSettings.model_validate(found) if found else ClaimSettings()

    async def has_logo(self, institution_id: str) -> bool:
        return (
            await self.settings.count_documents(
                {"_id": institution_id, "logo": {"$ne": None}}, limit=1
            )
            > 0
        )


def retry_delay(attempt: int, first_seconds: float, longest_seconds: float) -> float:
    """The wait after failed attempt ``attempt`` (1, 2, …): doubling from the first, capped."""
    doubled: float = first_seconds * 2.0 ** max(0, attempt - 1)
    return min(longest_seconds, doubled)
