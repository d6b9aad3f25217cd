"""Traces with OpenTelemetry: one evidence followed from its upload to the claim e-mail.

The trace context travels in each Kafka record's ``traceparent`` header (W3C Trace Context).
Because events are published through the outbox, often after the code that made them has
returned (by the relay, after a crash), the context is stored with the event in the outbox entry
when the event is written, and put in the record's headers when it is published. A consumer
handles each record in a span whose parent is that context, so the events its handler writes
carry the trace on. HTTP requests get a span from FastAPI's own telemetry, which continues a
caller's ``traceparent``.

A human decision (review's evidence approved hours later by an evaluator) belongs to the
evidence's trace, not to the evaluator's request: review keeps the context its evidence came
with and makes the decision's span its child, linked to the request (``continuing``).

Spans are exported over OTLP/HTTP when an endpoint is configured, with the standard variables
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``); without one the API's
no-op tracer costs next to nothing. Log lines carry the current ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Span, SpanKind

TRACER = trace.get_tracer("microcred")
TRACEPARENT = "traceparent"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def configure_tracing(service: str) -> bool:
    """Export this process's spans over OTLP/HTTP if an endpoint is configured; say whether."""
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        return False
    # Imported here: the SDK and its exporter only matter where traces are exported.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    provider = TracerProvider(resource=Resource.create({"service.name": f"microcred-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def trace_headers() -> dict[str, str]:
    """The current span's context as headers (``traceparent``); empty outside any span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def _text_headers(headers: Mapping[str, Any] | None) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if isinstance(value, bytes):
            value = value.decode("latin-1")  # noqa: PLW2901 - header bytes to text
        if isinstance(value, str):
            found[name.lower()] = value
    return found


@contextlib.contextmanager
def consuming(topic: str, headers: Mapping[str, Any] | None, **attributes: str) -> Iterator[Span]:
    """Handle one record in a span whose parent is the context its headers carry."""
    parent = propagate.extract(_text_headers(headers))
    with TRACER.start_as_current_span(
        f"{topic} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            **attributes,
        },
    ) as span:
        yield span


@contextlib.contextmanager
def continuing(stored: Mapping[str, str] | None, name: str, **attributes: str) -> Iterator[Span]:
    """A span in the trace ``stored`` names, linked to the current one (e.g. a request)."""
    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid else []
    parent = propagate.extract(dict(stored or {}))
    with TRACER.start_as_current_span(
        name, context=parent, links=links, attributes=attributes
    ) as span:
        yield span


def untraced(scope: Mapping[str, Any]) -> bool:
    """Requests FastAPI's telemetry leaves alone: probes and scrapes, every few seconds."""
    return scope.get("path") in UNTRACED_PATHS


def add_trace_ids(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Structlog processor: the current trace and span ids, where there is a span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict
