"""One evidence followed through all five services in one trace, from the spans they export.

The session's services export over OTLP/HTTP to a receiver in the test process. A learner
uploads three pieces of evidence and an evaluator approves them; the third approval makes the
award. The third upload's trace must then hold: intake's upload request, review's handling of
the submitted evidence and the evaluator's decision (a child of the evidence's trace, linked to
the evaluator's request), accounting's handling of the decision, the issuer's of the award and
the notifier's of the credential: every service, each span's parent in the same trace.
"""

from __future__ import annotations

import httpx
import pytest

from microcred_shared.contracts import topics
from microcred_shared.demo import wait_for
from microcred_shared.testing.otlp import CONSUMER, SERVER, ReceivedSpan
from microcred_shared.testing.plugin import Platform
from tests.e2e.journey import journey_to_claim_email

pytestmark = pytest.mark.e2e

SERVICES = {f"microcred-{s}" for s in ("intake", "review", "accounting", "issuer", "notifier")}


def consumed(spans: list[ReceivedSpan], service: str, topic: str) -> list[ReceivedSpan]:
    return [
        s
        for s in spans
        if s.service == f"microcred-{service}"
        and s.kind == CONSUMER
        and s.attributes.get("messaging.destination.name") == topic
    ]


async def test_one_evidence_is_one_trace_across_all_five_services(platform: Platform) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        journey = await journey_to_claim_email(platform, http)
    institution_id = journey.institution_id
    last = journey.evidence_ids[-1]
    traces = platform.traces

    async def its_trace() -> list[ReceivedSpan] | None:
        submitted = [
            s
            for s in traces.matching(**{"microcred.event.subject": last})
            if s.attributes.get("messaging.destination.name") == topics.EVIDENCE_SUBMITTED
        ]
        if not submitted:
            return None
        spans = traces.trace(submitted[0].trace_id)
        return spans if {s.service for s in spans} >= SERVICES else None

    # The award's and credential's spans come once the claim e-mail's handler has ended.
    spans = await wait_for("the evidence's trace in all five services", its_trace, timeout=30)

    ids = {s.span_id for s in spans}
    [root] = [s for s in spans if s.parent_span_id not in ids]
    assert root.service == "microcred-intake"
    assert root.kind == SERVER
    assert root.name == "POST /institutions/{institution_id}/evidence"
    assert root.attributes["http.response.status_code"] == 201

    assert consumed(spans, "review", topics.EVIDENCE_SUBMITTED)
    [decision] = [s for s in spans if s.name == "review decision"]
    assert decision.service == "microcred-review"
    assert decision.attributes["evidence"] == last
    assert decision.links, "the decision links the evaluator's request"
    assert consumed(spans, "accounting", topics.EVIDENCE_REVIEWED)
    [awarded] = consumed(spans, "issuer", topics.COMPETENCE_AWARDED)
    [issued] = consumed(spans, "notifier", topics.CREDENTIAL_ISSUED)
    assert awarded.attributes["microcred.tenant"] == institution_id
    assert issued.attributes["microcred.tenant"] == institution_id
    # Intake hears of the decision in the same trace too (the learner's dashboard).
    assert consumed(spans, "intake", topics.EVIDENCE_REVIEWED)
    # The supervisor's health probes, every few seconds, make no traces.
    probes = [s for s in traces.matching() if s.name.split(" ")[-1] in {"/healthz", "/readyz"}]
    assert probes == []
