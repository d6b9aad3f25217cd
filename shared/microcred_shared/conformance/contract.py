"""The review contract as an institution's own reviewer sees it, for its AsyncAPI document.

:func:`review_contract_broker` declares, on a FastStream broker that never connects, what an
external reviewer does: it receives review requests on its institution's request topic, sends
one decision per request on its decision topic, and may read the platform's refusals of its
decisions. ``microcred asyncapi`` writes the document to ``docs/asyncapi/review-contract.json``
and a test fails when it falls behind the code.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker
from faststream.security import SASLScram512
from faststream.specification import AsyncAPI

from microcred_shared.contracts.envelope import envelope_type
from microcred_shared.contracts.events import ReviewDecisionV1, ReviewRequestedV1
from microcred_shared.contracts.topics import REVIEW_DECISIONS, REVIEW_REQUESTS, dead_letter
from microcred_shared.kafka_auth import REVIEWER_USER_PREFIX

TITLE = "microcred review contract"
VERSION = "1.0.0"
INSTITUTION = "{institution}"
REVIEWER = f"{REVIEWER_USER_PREFIX}{INSTITUTION}"

DESCRIPTION = f"""\
How an institution's own review service (its *reviewer*) takes the place of microcred's \
built-in evaluators' workspace. Every topic is the institution's own: `{INSTITUTION}` stands \
for its id.

- The platform publishes a `ReviewRequestedV1` on `{REVIEW_REQUESTS}` for every piece of \
evidence a learner of the institution files: a CloudEvents 1.0 envelope in structured JSON \
mode with the `tenant` extension (the institution), keyed by learner id.
- The reviewer answers each request with one `ReviewDecisionV1` on `{REVIEW_DECISIONS}`: \
tenant and `institution_id` its institution, keyed by the learner id, never more hours than \
claimed.
- A request may be delivered more than once: the answer to a redelivered request repeats the \
same `decision_id` (or the reviewer does not answer again).
- A reviewer decides only on its own institution's evidence: a request whose tenant or \
institution is another's gets no decision.
- The platform checks each decision against the evidence it asked about; a decision it \
refuses goes to `{dead_letter(REVIEW_DECISIONS)}` with the reason in the `dlq-reason` header.

The reviewer connects as `{REVIEWER}` (SASL/SCRAM-SHA-512; `microcred kafka reviewer` \
provisions it) and may only read its requests and its refused decisions, write its decisions, \
and use consumer groups named `{REVIEWER}:*`. `microcred conformance review` checks a reviewer \
against this contract (docs/review-contract.md)."""


def review_contract_broker() -> KafkaBroker:
    """A broker declaring the contract from the external reviewer's side (never started)."""
    broker = KafkaBroker(
        "{bootstrap_servers}",
        security=SASLScram512(REVIEWER, "{password}"),
        description="The platform's Kafka, as its operator names it to the institution.",
    )

    async def decide(request: Any) -> None:
        """Decide on the evidence; answer on the decision topic."""

    decide.__annotations__ = {"request": envelope_type(ReviewRequestedV1), "return": None}
    broker.subscriber(
        REVIEW_REQUESTS,
        group_id=f"{REVIEWER}.reviewer",
        title="reviewRequests",
        description=(
            "The platform asks the institution's reviewer to decide on a piece of evidence. "
            "Answer each with one decision; a redelivered request gets the same decision_id "
            "again (or no second answer); a request of another institution gets none."
        ),
    )(decide)
    broker.publisher(
        REVIEW_DECISIONS,
        title="reviewDecisions",
        description=(
            "The reviewer's decision on a piece of evidence the platform asked about, keyed by "
            "the learner id, with the institution as tenant."
        ),
        schema=envelope_type(ReviewDecisionV1),
    )

    async def refused(decision: Any) -> None:
        """Read why the platform refused a decision (the ``dlq-reason`` header)."""

    refused.__annotations__ = {"decision": envelope_type(ReviewDecisionV1), "return": None}
    broker.subscriber(
        dead_letter(REVIEW_DECISIONS),
        group_id=f"{REVIEWER}.refusals",
        title="refusedDecisions",
        description=(
            "Decisions the platform refused (not valid, unknown or foreign evidence, decided "
            "already, more hours than claimed), as the reviewer sent them; the header "
            "dlq-reason says why, dlq-original-partition and dlq-original-offset say which."
        ),
    )(refused)
    return broker


def review_contract_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the review contract."""
    document: dict[str, Any] = (
        AsyncAPI(review_contract_broker(), title=TITLE, version=VERSION, description=DESCRIPTION)
        .to_specification()
        .to_jsonable()
    )
    # The host and the channels' {institution} are parameters the institution fills in.
    [server] = document.pop("servers").values()
    server["variables"] = {
        "bootstrap_servers": {
            "description": "The platform's Kafka bootstrap servers (host:port, comma-separated)."
        }
    }
    document["servers"] = {"platform": server}
    for channel in document.get("channels", {}).values():
        channel["servers"] = [{"$ref": "#/servers/platform"}]
        if INSTITUTION in channel.get("address", ""):
            channel["parameters"] = {
                "institution": {"description": "The institution's id, as in its events' tenant."}
            }
    return document
