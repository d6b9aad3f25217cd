"""Signing and verifying throughput of one issuer process, from Ed25519 up to a whole credential.

The target (from the issue): *signing and verifying throughput is measured in a benchmark*.
It runs in this process alone (no servers), on a realistic credential: the ``OpenBadgeCredential``
the issuer builds for a competence award of its tests' samples (learning outcomes, evidence,
ECTS, EQF level, the awarding body, two ``BitstringStatusListEntry`` entries), and measures:

- ``ed25519_sign`` / ``ed25519_verify``: the bare signature over 64 bytes (what a Data
  Integrity proof signs: two SHA-256 digests);
- ``rdfc_canonicalize``: RDFC-1.0 canonical N-Quads of the unsigned credential, the bundled
  contexts behind the offline loader (one of the two canonicalisations of every proof);
- ``undefined_terms`` and ``di_hash_data``: the two parts of a proof besides the signature,
  apart: the check that every term is defined (JSON-LD expansion and compaction; run once
  when signing, twice when verifying) and the hash of the canonical proof configuration and
  document;
- ``di_sign`` / ``di_verify``: a whole ``eddsa-rdfc-2022`` proof, as the issuer makes
  (``dataintegrity.sign``: the undefined-terms check, two canonicalisations, the signature)
  and checks it (``dataintegrity.verify_proof``);
- ``jwt_sign`` / ``jwt_verify``: the same credential as a VC-JWT (``credential.sign_jwt`` /
  ``verify_jwt``: JSON, base64url and EdDSA via joserfc).

Each operation is warmed up, then timed in ``--runs`` runs (default 3) of N iterations, N chosen
from the warm-up so that a run lasts about ``--seconds`` (default 1.0); the rate reported is the
median run's. Prints a table and writes ``bench/results/signing.json``.

    .venv/bin/python bench/signing.py                 # from the repository root, ~30 s
    .venv/bin/python bench/signing.py --seconds 0.3   # a quicker look
"""

# A script run by path, not a package to import; it reports on stdout.
# ruff: noqa: INP001, T201

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the issuer's test samples, imported as the tests import them

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from microcred_issuer.credential import (  # noqa: E402
    build_credential,
    institution_did,
    sign_jwt,
    verify_jwt,
)
from microcred_issuer.dataintegrity import (  # noqa: E402
    ProofOptions,
    canonicalize,
    hash_data,
    sign,
    undefined_terms,
    verify_proof,
)
from microcred_issuer.keys import SigningKey  # noqa: E402
from microcred_issuer.statuslist import StatusEntry, StatusLists  # noqa: E402
from services.issuer.tests.samples import (  # noqa: E402
    AWARDING,
    PUBLIC_URL,
    competence_award,
    credential_id_of,
)

#: DESIGN.md's planning figures for one process on a 2-core machine (operations per second).
PLANNED = {"di_sign": 180.0, "ed25519_sign": 30_000.0, "jwt_sign": 17_000.0}
WARM_UP_SECONDS = 0.3
MIN_ITERATIONS = 5


@dataclass(frozen=True)
class Measurement:
    name: str
    what: str
    iterations: int
    runs_per_second: list[float]
    per_second: float  # the median run's
    ms_per_operation: float


def measure(
    name: str, what: str, operation: Callable[[], object], seconds: float, runs: int
) -> Measurement:
    """Warm up, pick N so that a run lasts about ``seconds``, time ``runs`` runs; the median."""
    warm_up_start = time.perf_counter()
    done = 0
    while done < MIN_ITERATIONS or time.perf_counter() - warm_up_start < WARM_UP_SECONDS:
        operation()
        done += 1
    each = (time.perf_counter() - warm_up_start) / done
    iterations = max(MIN_ITERATIONS, int(seconds / each))
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(iterations):
            operation()
        rates.append(iterations / (time.perf_counter() - start))
    median = statistics.median(rates)
    return Measurement(
        name,
        what,
        iterations,
        [round(r, 1) for r in rates],
        round(median, 1),
        round(1000 / median, 4),
    )


def sample_credential() -> dict[str, Any]:
    """The unsigned credential the issuer makes of a sample competence award."""
    award = competence_award("bench-award-1").data
    did = institution_did(PUBLIC_URL, AWARDING)
    issued_at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    credential = build_credential(award, credential_id_of(award.award_id), did, issued_at)
    lists = StatusLists(
        cast("Any", None), cast("Any", None), PUBLIC_URL, lambda i: institution_did(PUBLIC_URL, i)
    )
    credential["credentialStatus"] = lists.entries_for(
        AWARDING, {"revocation": StatusEntry(0, 4711), "suspension": StatusEntry(0, 815)}
    )
    return credential


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timed run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "signing.json")
    parser.add_argument("--note", default="", help="free text stored in the JSON")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="EdDSA is deprecated")

    private_key = Ed25519PrivateKey.generate()
    public_key = private_key.public_key()
    did = institution_did(PUBLIC_URL, AWARDING)
    key = SigningKey(AWARDING, "key-1", private_key)
    kid = f"{did}#{key.key_id}"
    unsigned = sample_credential()
    options = ProofOptions(kid, datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    signed = sign(unsigned, private_key, options)
    [proof] = signed["proof"]
    verify_proof(signed, proof, public_key)  # the setup itself is right
    token = sign_jwt(unsigned, key, kid)
    assert verify_jwt(token, public_key) == unsigned  # noqa: S101
    message = os.urandom(64)
    signature = private_key.sign(message)
    nquads = canonicalize(unsigned)

    cases: list[tuple[str, str, Callable[[], object]]] = [
        ("ed25519_sign", "Ed25519 signature of 64 bytes", lambda: private_key.sign(message)),
        ("ed25519_verify", "Ed25519 verification", lambda: public_key.verify(signature, message)),
        (
            "rdfc_canonicalize",
            "RDFC-1.0 of the unsigned credential",
            lambda: canonicalize(unsigned),
        ),
        (
            "undefined_terms",
            "the undefined-terms check (expand + compact)",
            lambda: undefined_terms(unsigned),
        ),
        (
            "di_hash_data",
            "hash_data: canonical proof config + document",
            lambda: hash_data(unsigned, options.as_proof()),
        ),
        (
            "di_sign",
            "eddsa-rdfc-2022 proof: dataintegrity.sign",
            lambda: sign(unsigned, private_key, options),
        ),
        (
            "di_verify",
            "eddsa-rdfc-2022 proof: verify_proof",
            lambda: verify_proof(signed, proof, public_key),
        ),
        (
            "jwt_sign",
            "VC-JWT (EdDSA) of the credential: sign_jwt",
            lambda: sign_jwt(unsigned, key, kid),
        ),
        ("jwt_verify", "VC-JWT: verify_jwt", lambda: verify_jwt(token, public_key)),
    ]
    print(
        f"one process, {os.cpu_count()} CPUs, Python {platform.python_version()}; credential: "
        f"{len(json.dumps(unsigned))} bytes of JSON, {nquads.count(chr(10))} N-Quads; "
        f"{args.runs} runs of ~{args.seconds} s each, median; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'operation':<19} {'per second':>11} {'ms each':>9} {'DESIGN.md':>10}  runs")
    results = []
    for name, what, operation in cases:
        m = measure(name, what, operation, args.seconds, args.runs)
        results.append(m)
        planned = PLANNED.get(name)
        planned_text = f"{planned:,.0f}" if planned else ""
        runs_text = ", ".join(f"{r:,.0f}" for r in m.runs_per_second)
        rate = f"{m.per_second:>11,.1f} {m.ms_per_operation:>9.3f}"
        print(f"{name:<19} {rate} {planned_text:>10}  {runs_text}")

    rates = {m.name: m.per_second for m in results}
    issuance = 1 / (1 / rates["di_sign"] + 1 / rates["jwt_sign"])
    print(f"both proofs of one credential (di_sign + jwt_sign): {issuance:,.1f} per second")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    # Other work on the machine slows every figure down: the load when done.
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                },
                "credential": {
                    "json_bytes": len(json.dumps(unsigned)),
                    "nquads": nquads.count("\n"),
                    "jwt_bytes": len(token),
                },
                "runs": args.runs,
                "seconds_per_run": args.seconds,
                "results": [asdict(m) for m in results],
                "both_proofs_per_second": round(issuance, 1),
                "planned_per_second": PLANNED,
                "note": args.note,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
