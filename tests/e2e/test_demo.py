"""``microcred demo`` walks one learner through the running platform and writes what came out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from microcred_shared.testing.plugin import Platform

pytestmark = pytest.mark.e2e


def test_demo_writes_the_email_the_signed_credential_and_what_verifies_it(
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
    assert len(steps) == 9
    assert "verified: signed by did:web:" in result.stdout
    credential = json.loads((out / "credential.json").read_text())
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["proof"][0]["cryptosuite"] == "eddsa-rdfc-2022"
    assert (out / "credential.jwt").read_text().strip().count(".") == 2
    assert "/claim/" in (out / "claim-email.eml").read_text()
    # The share link the demo made shows the credential, not the learner's e-mail address.
    share_url = (out / "share-link.txt").read_text().strip()
    assert share_url.startswith(platform.urls["notifier"] + "/share/")
    shared = httpx.get(share_url, timeout=30)
    assert shared.status_code == 200
    assert "Verified just now." in shared.text
    assert "@learners.example.org" not in shared.text
    did = json.loads((out / "did.json").read_text())
    assert did["id"] == credential["issuer"]["id"]
    assert (out / "badge.svg").read_text().count("<openbadges:credential") == 1
    assert (out / "certificate.pdf").read_bytes().startswith(b"%PDF-")
    lists = sorted(out.glob("status-list-*.json"))
    assert [p.name for p in lists] == [
        "status-list-revocation.json",
        "status-list-suspension.json",
    ]
    for path in lists:
        assert "BitstringStatusListCredential" in json.loads(path.read_text())["type"]

    # Anyone can verify what was written, offline, with the issuer's DID document alone.
    microcred = str(Path(sys.executable).parent / "microcred")
    for written in ("credential.json", "credential.jwt", "badge.svg"):
        offline = subprocess.run(
            [microcred, "verify", str(out / written), "--did-document", str(out / "did.json")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert offline.returncode == 0, offline.stdout + offline.stderr
        assert offline.stdout.rstrip().endswith("VALID")
        assert "not checked offline" in offline.stdout
    with_status = subprocess.run(
        [
            microcred,
            "verify",
            str(out / "credential.json"),
            "--did-document",
            str(out / "did.json"),
            *(arg for path in lists for arg in ("--status-list", str(path))),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert with_status.returncode == 0, with_status.stdout + with_status.stderr
    assert "status     passed (active)" in with_status.stdout
