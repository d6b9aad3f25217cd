"""``make lint``'s dependency audit reads pip-audit's report strictly."""

from __future__ import annotations

import pytest

from microcred_shared.testing.audit import verdict

pytestmark = pytest.mark.unit

CLEAN = {"name": "fastapi", "version": "0.163.2", "vulns": []}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"]}],
}
UNCHECKED = {"name": "aiokafka", "skip_reason": "Dependency not found on PyPI"}


def test_a_known_vulnerability_fails_and_names_the_fix() -> None:
    status, lines = verdict({"dependencies": [CLEAN, VULNERABLE]}, required=False)
    assert status == 1
    assert "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in lines


def test_an_incomplete_audit_says_so_and_fails_only_where_required() -> None:
    report = {"dependencies": [CLEAN, UNCHECKED]}
    status, lines = verdict(report, required=False)
    assert status == 0
    assert lines[0].startswith("dependency audit incomplete: 1 of 2 packages")
    assert lines[-1] == "dependency audit: no known vulnerability in the 1 packages checked"
    assert verdict(report, required=True)[0] == 1


def test_a_clean_audit_passes() -> None:
    assert verdict({"dependencies": [CLEAN]}, required=True) == (
        0,
        ["dependency audit: no known vulnerability in the 1 packages checked"],
    )
