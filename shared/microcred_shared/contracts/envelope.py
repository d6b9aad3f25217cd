"""The envelope every microcred event travels in.

It carries the CloudEvents 1.0 context attributes (``specversion``, ``id``, ``source``, ``type``,
``time``, ``subject``, ``datacontenttype``) plus the ``tenant`` extension attribute naming the
institution, and the event's payload in ``data``. The JSON form is CloudEvents' structured
content mode, so any CloudEvents tooling can read it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

#: Identifiers of institutions, learners, competences: short, printable, safe in keys and paths.
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"),
]

#: Institution ids become did:web path segments, which ``:`` would split.
InstitutionId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"),
]

#: Namespace of the deterministic event ids (uuid5), so a retried effect yields the same id.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c1e4a-3b0e-5d55-9a53-7d1c2a6b4e10")


def deterministic_event_id(*parts: str) -> str:
    """Return the event id of the effect named by ``parts``.

    An effect produced again after a crash or a redelivery gets the same id, so consumers that
    dedupe by event id see one event, whichever copy arrives first.
    """
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "/".join(parts)))


class EventPayload(BaseModel):
    """Base of every event payload: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: CloudEvents ``type`` of the event that carries this payload; the version is part of it.
    event_type: ClassVar[str]
    #: The topic the event is published on; ``{institution}`` in it stands for the tenant, for
    #: the contracts that give each institution topics of its own.
    topic: ClassVar[str]

    @classmethod
    def topic_for(cls, tenant: str) -> str:
        """The concrete topic of this payload type for the institution ``tenant``."""
        return cls.topic.replace("{institution}", tenant)

    @classmethod
    def per_institution(cls) -> bool:
        return "{institution}" in cls.topic

    def partition_key(self) -> str:
        """Return the Kafka key: the learner id, so one learner's events stay in order."""
        learner_id: str = getattr(self, "learner_id")  # noqa: B009 - every payload names its learner
        return learner_id


PayloadT = TypeVar("PayloadT", bound=EventPayload)


class Envelope(BaseModel, Generic[PayloadT]):
    """A CloudEvents 1.0 event (structured mode) with microcred's ``tenant`` extension."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(
        min_length=1,
        max_length=128,
        description="Unique per event; consumers dedupe on it.",
        examples=["0f8fad5b-d9cb-469f-a165-70867728950e"],
    )
    source: str = Field(
        min_length=1,
        max_length=256,
        description="The producing service, as a URI reference.",
        examples=["/microcred/intake"],
    )
    type: str = Field(
        min_length=1,
        max_length=128,
        description="The event type, versioned.",
        examples=["eu.microcred.evidence.submitted.v1"],
    )
    time: datetime = Field(description="When the occurrence happened (UTC).")
    subject: str = Field(
        min_length=1,
        max_length=256,
        description="What the event is about, e.g. the evidence or credential id.",
    )
    tenant: Identifier = Field(description="The institution the event belongs to.")
    datacontenttype: Literal["application/json"] = "application/json"
    data: PayloadT

    @model_validator(mode="after")
    def _type_names_the_payload(self) -> Self:
        if self.type != self.data.event_type:
            raise ValueError(f"type {self.type!r} is not {self.data.event_type!r}")
        return self

    @model_validator(mode="after")
    def _tenant_owns_the_payload(self) -> Self:
        institution = getattr(self.data, "institution", None)
        owner = getattr(institution, "id", None) or getattr(self.data, "institution_id", None)
        if owner is not None and owner != self.tenant:
            raise ValueError(
                f"tenant {self.tenant!r} differs from the payload's institution {owner!r}"
            )
        return self

    @classmethod
    def wrap(
        cls,
        payload: PayloadT,
        *,
        source: str,
        subject: str,
        tenant: str,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> Envelope[PayloadT]:
        """Build the envelope of ``payload``; the type comes from the payload's class."""
        concrete = envelope_type(type(payload))
        return concrete(
            id=event_id or str(uuid.uuid4()),
            source=source,
            type=payload.event_type,
            time=time or datetime.now(UTC),
            subject=subject,
            tenant=tenant,
            data=payload,
        )

    @property
    def topic(self) -> str:
        return self.data.topic_for(self.tenant)

    def key(self) -> bytes:
        return self.data.partition_key().encode()

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


def envelope_type(payload_type: type[PayloadT]) -> type[Envelope[PayloadT]]:
    """Return the concrete envelope model of one payload type, for parsing."""
    return Envelope[payload_type]  # type: ignore[valid-type]
