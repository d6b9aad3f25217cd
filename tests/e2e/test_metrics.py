"""Every service's ``/metrics`` on the running platform, read as Prometheus reads it.

After one learner's journey (three approvals, one award, one credential, one claim e-mail),
each service has counted what it consumed and how long it took, its consumer groups' lag is
measured, the e-mails are counted, and a record that is not an event shows up as dead-lettered
at every service that consumes its topic. The services are shared by the session's end-to-end
tests, so the counts are compared before and after.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from microcred_shared.contracts import topics
from microcred_shared.demo import wait_for
from microcred_shared.testing.kafka import publish_raw
from microcred_shared.testing.plugin import Platform
from tests.e2e.journey import journey_to_claim_email

pytestmark = pytest.mark.e2e

#: What each service consumes (one of its subscriptions), and how many records of it one journey
#: makes at the least: three evidence submitted and reviewed, one award, one credential.
CONSUMES = {
    "intake": (topics.EVIDENCE_REVIEWED, 3),
    "review": (topics.EVIDENCE_SUBMITTED, 3),
    "accounting": (topics.EVIDENCE_REVIEWED, 3),
    "issuer": (topics.COMPETENCE_AWARDED, 1),
    "notifier": (topics.CREDENTIAL_ISSUED, 1),
}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, url: str) -> Samples:
    response = await http.get(f"{url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


async def scrape_all(platform: Platform, http: httpx.AsyncClient) -> dict[str, Samples]:
    return {service: await scrape(http, url) for service, url in platform.urls.items()}


async def test_every_service_counts_what_it_handled_its_lag_and_its_e_mails(
    platform: Platform,
) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        before = await scrape_all(platform, http)
        await journey_to_claim_email(platform, http)
        after = await scrape_all(platform, http)

        def grew(service: str, name: str, **labels: str) -> float:
            return total(after[service], name, **labels) - total(before[service], name, **labels)

        for service, (topic, at_least) in CONSUMES.items():
            labels = {"app_name": f"microcred-{service}", "handler": topic}
            handled = grew(service, "faststream_received_processed_messages_total", **labels)
            assert handled >= at_least, (service, topic, handled)
            timed = "faststream_received_processed_messages_duration_seconds_count"
            assert grew(service, timed, **labels) >= 1
            # Each subscription's lag is measured (a gauge per topic and group).
            lag = [
                v
                for (name, labels), v in after[service].items()
                if name == "microcred_consumer_lag_records" and ("topic", topic) in labels
            ]
            assert lag, f"{service}: no lag measured for {topic}"
            assert all(v >= 0 for v in lag)

        assert grew("notifier", "microcred_emails_sent_total", kind="claim") >= 1
        # The learner's address confirmation.
        assert grew("intake", "microcred_emails_sent_total", kind="account") >= 1


async def test_a_record_that_is_not_an_event_counts_as_dead_lettered_where_it_is_consumed(
    platform: Platform,
) -> None:
    topic = topics.EVIDENCE_REVIEWED  # consumed by intake and accounting
    async with httpx.AsyncClient(timeout=30) as http:
        before = await scrape_all(platform, http)
        await publish_raw(
            platform.servers.kafka,
            topic,
            f'{{"not": "an event", "marker": "{uuid.uuid4().hex}"}}'.encode(),
            key=b"metrics-test",
        )

        def dead(samples: dict[str, Samples], service: str) -> float:
            return total(samples[service], "microcred_dead_lettered_total", topic=topic)

        counted: dict[str, dict[str, float]] = {}

        async def both_counted() -> bool | None:
            after = await scrape_all(platform, http)
            counted["grown"] = {
                s: dead(after, s) - dead(before, s) for s in ("intake", "accounting", "issuer")
            }
            grown = counted["grown"]
            return True if grown["intake"] >= 1 and grown["accounting"] >= 1 else None

        await wait_for("the dead-lettered record counted", both_counted, timeout=60)
    grown = counted["grown"]
    # The issuer does not consume the topic: it did not count it.
    assert grown["issuer"] == 0, grown
