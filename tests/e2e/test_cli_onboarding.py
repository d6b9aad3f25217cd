"""``microcred institution`` onboards an institution and imports starter catalogues."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from microcred_shared.demo import DEVELOPMENT_ADMIN
from microcred_shared.testing.plugin import Platform

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
#: The smallest valid PNG (1 by 1, transparent).
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def microcred(platform: Platform, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "microcred"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            **platform.config.to_env(),
            "MICROCRED_ADMIN_PASSWORD": password,
        },
        check=False,
    )


def admin_auth(platform: Platform) -> dict[str, str]:
    email, password = DEVELOPMENT_ADMIN
    token = httpx.post(
        f"{platform.urls['intake']}/auth/token", json={"email": email, "password": password}
    )
    return {"Authorization": f"Bearer {token.raise_for_status().json()['access_token']}"}


def assert_claim_settings(
    platform: Platform, institution: dict[str, Any], stdout: str, tmp_path: Path
) -> None:
    # The claims section reached the notifier; a logo file is read next to the onboarding file.
    assert "claims: second check email_code, privacy terms 2026-11" in stdout
    claim_settings = f"{platform.urls['notifier']}/institutions/{institution['id']}/claim-settings"
    kept = httpx.get(claim_settings, headers=admin_auth(platform)).json()
    assert kept["privacy_terms"] == institution["claims"]["privacy_terms"]
    (tmp_path / "logo.png").write_bytes(PNG)
    (tmp_path / "claims.json").write_text(
        json.dumps({**institution["claims"], "logo_file": "logo.png"})
    )
    with_logo = microcred(
        platform,
        "institution",
        "claim-settings",
        institution["id"],
        str(tmp_path / "claims.json"),
        password="microcred-admin-dev",
    )
    assert with_logo.returncode == 0, with_logo.stderr
    served = httpx.get(f"{platform.urls['notifier']}/institutions/{institution['id']}/logo")
    assert served.content == PNG
    (tmp_path / "claims.json").write_text(json.dumps({"logo_file": "institution.json"}))
    not_an_image = microcred(
        platform,
        "institution",
        "claim-settings",
        institution["id"],
        str(tmp_path / "claims.json"),
        password="microcred-admin-dev",
    )
    assert not_an_image.returncode == 2
    assert "neither PNG nor JPEG" in not_an_image.stderr


def test_onboarding_and_catalogue_import_from_the_command_line(
    platform: Platform, tmp_path: Path
) -> None:
    institution = json.loads((ROOT / "docs" / "institution.example.json").read_text())
    institution["id"] = f"cli-{uuid.uuid4().hex[:8]}"
    for component in institution["pathways"]["digital-communicator"]["components"]:
        if component["institution_id"] == "example-university":
            component["institution_id"] = institution["id"]
    file = tmp_path / "institution.json"
    file.write_text(json.dumps(institution))

    wrong = microcred(platform, "institution", "onboard", str(file), password="not-it")
    assert wrong.returncode == 1
    assert "login refused" in wrong.stderr

    onboarded = microcred(
        platform, "institution", "onboard", str(file), password="microcred-admin-dev"
    )
    assert onboarded.returncode == 0, onboarded.stderr
    assert f"onboarded {institution['id']}" in onboarded.stdout
    # Registered at the issuer with its first key, before any award.
    issuer = f"{platform.urls['issuer']}/institutions/{institution['id']}"
    [key] = httpx.get(f"{issuer}/keys").json()["keys"]
    assert (key["key_id"], key["status"]) == ("key-1", "active")
    assert f"issuer: signs as {key['id']}" in onboarded.stdout
    registered = httpx.get(issuer).json()
    assert registered["competences"] == sorted(c["id"] for c in institution["competences"])
    # Registering again (``microcred issuer register``) is idempotent: the same key.
    again = microcred(
        platform, "issuer", "register", institution["id"], password="microcred-admin-dev"
    )
    assert again.returncode == 0, again.stderr
    assert f"issuer: signs as {key['id']}" in again.stdout
    assert httpx.get(issuer).json() == registered
    assert "pathway digital-communicator defined (all_of, Digital communicator)" in (
        onboarded.stdout
    )
    defined = httpx.get(
        f"{platform.urls['accounting']}/institutions/{institution['id']}/pathways/"
        "digital-communicator",
        headers=admin_auth(platform),
    ).json()
    assert defined["partners"] == ["partner-college"]
    assert defined["components"][0]["institution_id"] == institution["id"]
    assert_claim_settings(platform, institution, onboarded.stdout, tmp_path)

    # The partner's side: its awards count toward another institution's pathways once it says so.
    sharing = f"{platform.urls['accounting']}/institutions/{institution['id']}/award-sharing"
    shared = microcred(
        platform,
        "institution",
        "share-awards",
        institution["id"],
        "partner-college",
        password="microcred-admin-dev",
    )
    assert shared.returncode == 0, shared.stderr
    listed = httpx.get(sharing, headers=admin_auth(platform)).json()
    assert [s["shares_awards_with"] for s in listed] == ["partner-college"]
    stopped = microcred(
        platform,
        "institution",
        "share-awards",
        institution["id"],
        "partner-college",
        "--stop",
        password="microcred-admin-dev",
    )
    assert stopped.returncode == 0, stopped.stderr
    assert httpx.get(sharing, headers=admin_auth(platform)).json() == []

    imported = microcred(
        platform,
        "institution",
        "import-catalogue",
        institution["id"],
        "greencomp",
        password="microcred-admin-dev",
    )
    assert imported.returncode == 0, imported.stderr
    assert "imported 12 competences of greencomp; 13 in all" in imported.stdout
    again = microcred(
        platform,
        "institution",
        "import-catalogue",
        institution["id"],
        "greencomp",
        password="microcred-admin-dev",
    )
    assert "imported 0 competences" in again.stdout

    catalogue = httpx.get(f"{platform.urls['intake']}/institutions/{institution['id']}").json()
    assert {c["id"] for c in catalogue["competences"]} >= {"greencomp-1.1", "greencomp-4.3"}
    # The issuer signs for the imported competences too; still with the one key.
    registered = httpx.get(issuer).json()
    assert registered["competences"] == sorted(c["id"] for c in catalogue["competences"])
    assert [k["key_id"] for k in httpx.get(f"{issuer}/keys").json()["keys"]] == ["key-1"]
    unknown = microcred(
        platform,
        "institution",
        "import-catalogue",
        institution["id"],
        "nope",
        password="microcred-admin-dev",
    )
    assert unknown.returncode == 1
    assert "Unknown catalogue" in unknown.stderr
