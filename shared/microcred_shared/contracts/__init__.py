"""Event contracts of microcred's topics: the envelope, the v1 payloads, the topic names."""

from microcred_shared.contracts import events, topics
from microcred_shared.contracts.envelope import (
    Envelope,
    EventPayload,
    deterministic_event_id,
    envelope_type,
)
from microcred_shared.contracts.registry import BY_TOPIC, BY_TYPE, InvalidEventError, parse_event

__all__ = [
    "BY_TOPIC",
    "BY_TYPE",
    "Envelope",
    "EventPayload",
    "InvalidEventError",
    "deterministic_event_id",
    "envelope_type",
    "events",
    "parse_event",
    "topics",
]
