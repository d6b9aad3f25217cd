"""Parsing raw Kafka records into typed envelopes, with the reason when they are not valid."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import ValidationError

from microcred_shared.contracts import events
from microcred_shared.contracts.envelope import Envelope, EventPayload, envelope_type

P = TypeVar("P", bound=EventPayload)

PAYLOADS: tuple[type[EventPayload], ...] = (
    events.EvidenceSubmittedV1,
    events.EvidenceWithdrawnV1,
    events.EvidenceReviewedV1,
    events.ReviewRequestedV1,
    events.ReviewDecisionV1,
    events.CompetenceAwardedV1,
    events.PathwayAwardedV1,
    events.AwardRevokedV1,
    events.CredentialIssuedV1,
    events.CredentialRevokedV1,
    events.NotificationSentV1,
    events.NotificationFailedV1,
)
BY_TYPE: dict[str, type[EventPayload]] = {p.event_type: p for p in PAYLOADS}
BY_TOPIC: dict[str, type[EventPayload]] = {p.topic: p for p in PAYLOADS}


class InvalidEventError(ValueError):
    """A record that is not a valid event for its topic; ``reason`` says why, for the DLQ."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_event(raw: bytes, payload_type: type[P]) -> Envelope[P]:
    """Parse ``raw`` as an envelope of ``payload_type``, or raise ``InvalidEventError``."""
    try:
        document: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEventError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidEventError("not a JSON object")
    declared = document.get("type")
    if declared != payload_type.event_type:
        raise InvalidEventError(
            f"type {declared!r} does not belong on this topic "
            f"(expected {payload_type.event_type!r})"
        )
    try:
        return envelope_type(payload_type).model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise InvalidEventError(f"schema: {problems}") from exc
