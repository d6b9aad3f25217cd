"""``make lint``'s dependency audit: pip-audit over the locked environment, read strictly.

pip-audit asks PyPI for the advisories of each installed version. It fails the step on any
known vulnerability. A package it could not check is not silently passed: the step says how many
went unchecked and why; where ``MICROCRED_AUDIT_REQUIRED=1`` (a CI with PyPI's JSON API
reachable), an incomplete audit fails too. On networks that serve only PyPI's package index (not
its per-version JSON), nothing can be checked, and the step says so instead of claiming
"no known vulnerabilities".

    .venv/bin/python -m microcred_shared.testing.audit
"""

# A command-line step that reports on stdout and stderr.
# ruff: noqa: T201

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def audit(pip_audit: Path) -> dict[str, Any]:
    """pip-audit's JSON report of the running environment (the workspace's packages skipped)."""
    finished = subprocess.run(  # noqa: S603 - our own venv's tool, fixed arguments
        [
            str(pip_audit),
            "--vulnerability-service",
            "pypi",
            "--skip-editable",
            "--progress-spinner",
            "off",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(finished.stdout)
    except json.JSONDecodeError:
        print(finished.stderr.strip() or "pip-audit gave no report", file=sys.stderr)
        raise SystemExit(2) from None
    return report


def verdict(report: dict[str, Any], *, required: bool) -> tuple[int, list[str]]:
    """The exit status and the lines to print for ``report``."""
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    unchecked = [d for d in dependencies if d.get("skip_reason")]
    lines = [
        f"{d['name']} {d['version']}: {v['id']} "
        f"(fixed in {', '.join(v.get('fix_versions', [])) or 'no release yet'})"
        for d in vulnerable
        for v in d["vulns"]
    ]
    checked = len(dependencies) - len(unchecked)
    if unchecked:
        lines.append(
            f"dependency audit incomplete: {len(unchecked)} of {len(dependencies)} packages "
            f"could not be checked ({unchecked[0]['skip_reason']})"
        )
    if vulnerable:
        lines.append(f"known vulnerabilities in {len(vulnerable)} packages")
        return 1, lines
    if unchecked and required:
        return 1, lines
    lines.append(f"dependency audit: no known vulnerability in the {checked} packages checked")
    return 0, lines


def main() -> int:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    status, lines = verdict(
        audit(pip_audit), required=os.environ.get("MICROCRED_AUDIT_REQUIRED") == "1"
    )
    for line in lines:
        print(line, file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
