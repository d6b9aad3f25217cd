"""``microcred demo`` walks one learner through the running platform and writes what came out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from microcred_shared.testing.plugin import Platform

pytestmark = pytest.mark.e2e


def test_demo_writes_the_email_and_the_signed_credential(
    platform: Platform, tmp_path: Path
) -> None:
    if platform.servers.stack is None:
        pytest.skip("the demo reads the embedded SMTP sink's Maildir")
    out = tmp_path / "demo"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "microcred"), "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **platform.config.to_env()},
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    steps = [line for line in result.stdout.splitlines() if line[:2].rstrip(".").isdigit()]
    assert len(steps) == 8
    assert "verified: signed by did:web:" in result.stdout
    credential = json.loads((out / "credential.json").read_text())
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert (out / "credential.jwt").read_text().count(".") == 2
    assert "/claim/" in (out / "claim-email.eml").read_text()
