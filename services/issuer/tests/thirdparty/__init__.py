"""Verifiers someone else wrote, run on the issuer's output: ``verify.mjs`` on Node.

Digital Bazaar's ``@digitalbazaar/vc`` (with ``@digitalbazaar/data-integrity`` and the
``eddsa-rdfc-2022`` cryptosuite; jsonld.js in safe mode and rdf-canonize underneath) checks Data
Integrity proofs, its ``@digitalbazaar/vc-bitstring-status-list`` checks a credential's
Bitstring Status List entries (the status list credentials are given to it as files), and
``jose`` checks VC-JWTs. Their exact versions are pinned by
``package.json`` and ``package-lock.json`` here; ``make vc-verifier`` (part of ``make test``)
installs them with ``npm ci`` into ``.cache/node/vc-verifier``. Missing Node or packages fail
the tests that need them: they are never skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
PREFIX = Path(".cache/node/vc-verifier")


def verifier_script() -> Path:
    """``verify.mjs`` beside its installed packages (copied afresh, so edits take effect)."""
    if shutil.which("node") is None:
        pytest.fail("node is not installed: the third-party verifier needs Node.js 20 or later")
    if not (PREFIX / "node_modules" / "@digitalbazaar" / "vc").is_dir():
        pytest.fail(
            f"the third-party verifier's packages are not installed ({PREFIX}/node_modules is "
            "missing): run `make vc-verifier` (or `make test`) at the project root"
        )
    script = PREFIX / "verify.mjs"
    shutil.copyfile(HERE / "verify.mjs", script)
    return script


def third_party_verify(
    tmp_path: Path,
    *,
    controllers: list[dict[str, Any]],
    credential: dict[str, Any] | None = None,
    jwt: str | None = None,
    status_lists: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the third-party verifiers say of ``credential`` and/or ``jwt``.

    ``status_lists`` are the ``BitstringStatusListCredential`` documents the credential's
    ``credentialStatus`` names, served to the verifier by their ids (it fetches nothing).
    """
    script = verifier_script()
    args = ["node", str(script)]
    for index, controller in enumerate(controllers):
        path = tmp_path / f"controller-{index}.json"
        path.write_text(json.dumps(controller), encoding="utf-8")
        args += ["--controller", str(path)]
    for index, status_list in enumerate(status_lists or []):
        path = tmp_path / f"status-list-{index}.json"
        path.write_text(json.dumps(status_list), encoding="utf-8")
        args += ["--status-list", str(path)]
    if credential is not None:
        path = tmp_path / "credential.json"
        path.write_text(json.dumps(credential, ensure_ascii=False), encoding="utf-8")
        args += ["--credential", str(path)]
    if jwt is not None:
        path = tmp_path / "credential.jwt"
        path.write_text(jwt, encoding="ascii")
        args += ["--jwt", str(path)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result
