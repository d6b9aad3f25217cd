"""Log lines name the trace and span they were written in."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from microcred_shared.logging import configure_logging, get_logger
from microcred_shared.tracing import consuming, trace_headers

pytestmark = pytest.mark.unit


def test_a_json_log_line_carries_the_trace_and_span_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("tests", "INFO", "json")
    tracer = TracerProvider().get_tracer("tests")
    log = get_logger("tests.tracing")
    try:
        with tracer.start_as_current_span("upload") as span:
            log.info("evidence.submitted", evidence_id="e-1")
            context = span.get_span_context()
        log.info("outside")
    finally:
        logging.getLogger().handlers.clear()
    inside, outside = [json.loads(line) for line in capsys.readouterr().err.splitlines()[-2:]]
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in outside


def test_a_consumed_record_continues_the_trace_its_headers_carry() -> None:
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("producer") as producer:
        headers = {k: v.encode() for k, v in trace_headers().items()}  # as Kafka gives them
    assert headers, "a span in progress has a traceparent"
    with consuming("microcred.evidence.submitted.v1", headers) as span:
        # The API's tracer (no SDK installed globally) keeps the incoming context.
        assert span.get_span_context().trace_id == producer.get_span_context().trace_id
