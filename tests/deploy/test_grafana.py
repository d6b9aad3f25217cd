"""deploy/grafana/microcred.json: a dashboard that queries only what the services expose.

Every metric a panel's query names must be one the services' ``/metrics`` serves (the platform's
own and FastStream's, registered in ``microcred_shared.metrics.REGISTRY``), and every label it
groups by must be one of that metric's labels: a renamed metric or label fails here, not on an
operator's empty panel.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from microcred_shared.metrics import REGISTRY, kafka_middleware
from microcred_shared.settings import ServiceSettings

pytestmark = pytest.mark.unit

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "microcred.json"
METRIC = re.compile(r"\b((?:faststream|microcred)_[a-z_]+)\b")
GROUPED = re.compile(r"by \(([^)]*)\) \((?:rate|increase)?\(?((?:faststream|microcred)_[a-z_]+)")
PLAIN_GROUPED = re.compile(r"by \(([^)]*)\) \(((?:faststream|microcred)_[a-z_]+)")


def exposed() -> dict[str, set[str]]:
    """Every sample name the services can serve, with its labels."""
    kafka_middleware(ServiceSettings(service_name="tests"))  # registers FastStream's metrics
    found: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        labels = {"le"} if family.type == "histogram" else set()
        collector_labels = _label_names(family.name)
        for suffix in ("", "_total", "_bucket", "_count", "_sum", "_created"):
            found[family.name + suffix] = labels | collector_labels
    return found


def _label_names(name: str) -> set[str]:
    # The registry keeps its collectors privately; prometheus_client offers no public way.
    for collector in list(REGISTRY._collector_to_names):
        if getattr(collector, "_name", None) in {name, name.removesuffix("_total")}:
            return set(getattr(collector, "_labelnames", ()))
    return set()


def queries() -> list[tuple[str, str]]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


def test_the_dashboard_has_its_panels_and_a_service_filter() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {panel["title"] for panel in dashboard["panels"]}
    assert {"Consumer lag", "Dead-lettered in the last hour", "E-mails"} <= titles
    assert any(v["name"] == "service" for v in dashboard["templating"]["list"])
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


@pytest.mark.parametrize(("title", "expr"), queries())
def test_each_query_names_only_exposed_metrics_and_their_labels(title: str, expr: str) -> None:
    served = exposed()
    names = METRIC.findall(expr)
    assert names, f"{title}: no metric in {expr}"
    for name in names:
        assert name in served, f"{title}: {name} is not served by any service"
    for grouping, name in [*GROUPED.findall(expr), *PLAIN_GROUPED.findall(expr)]:
        wanted = {label.strip() for label in grouping.split(",")}
        assert wanted <= served[name], f"{title}: {name} has no label {wanted - served[name]}"
