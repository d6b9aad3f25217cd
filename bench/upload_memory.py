"""How much intake's memory grows while it takes a 50 MiB evidence upload.

The budget (from the issue): an upload of a 50 MB file keeps the intake process's memory growth
under 20 MB. The benchmark starts the embedded stack on free ports, one intake process, uploads a
small warm-up file, then uploads a 50 MiB PDF three times while a thread samples intake's resident
set size (``VmRSS`` in ``/proc/<pid>/status``) every 20 ms. The kernel's own high-water mark
(``VmHWM``, reset before each upload) catches a peak shorter than the sampling interval.

    .venv/bin/python bench/upload_memory.py            # from the repository root

Prints one line per upload and PASS or FAIL; exits 1 on FAIL. Writes the latest measurement to
``bench/results/upload_memory.json``. Linux only (reads ``/proc``).
"""

# A script run by path, not a package to import; it reports on stdout.
# ruff: noqa: INP001, T201

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

import httpx

from microcred_shared.demo import (
    DEVELOPMENT_ADMIN,
    VERIFY_LINK,
    demo_institution,
    minimal_pdf,
    plain_text,
)
from microcred_shared.testing.servers import embedded_servers

MiB = 1024 * 1024
MB = 1000 * 1000
BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_OUTPUT = BENCH_DIR / "results" / "upload_memory.json"
READY_TIMEOUT_SECONDS = 60.0
UPLOAD_TIMEOUT_SECONDS = 300.0


# --- The HTTP steps: the one place to adapt when intake's API changes (accounts, auth). ---

Uploader = Callable[[io.FileIO, str], dict[str, Any]]


def intake_uploader(http: httpx.Client, mail: Callable[[], list[EmailMessage]]) -> Uploader:
    """Onboard an institution, register and verify a learner; return a function uploading a file."""
    admin_email, admin_password = DEVELOPMENT_ADMIN
    admin = http.post("/auth/token", json={"email": admin_email, "password": admin_password})
    admin_auth = {"Authorization": f"Bearer {admin.raise_for_status().json()['access_token']}"}
    institution = demo_institution(f"bench-{uuid.uuid4().hex[:12]}")
    competence_id = institution["competences"][0]["id"]
    http.post("/institutions", json=institution, headers=admin_auth).raise_for_status()
    email, password = f"bench.{uuid.uuid4().hex[:8]}@example.org", "bench-learner-password"
    http.post(
        "/auth/register",
        json={
            "email": email,
            "password": password,
            "name": "Bench Learner",
            "institution_id": institution["id"],
        },
    ).raise_for_status()
    token = None
    deadline = time.monotonic() + 30
    while token is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the verification e-mail never came")
        found = [VERIFY_LINK.search(plain_text(m)) for m in mail() if email in str(m["To"])]
        token = next((f.group(1) for f in found if f), None)
        time.sleep(0.2)
    http.post("/auth/verify", json={"token": token}).raise_for_status()
    login = http.post("/auth/token", json={"email": email, "password": password})
    learner_auth = {"Authorization": f"Bearer {login.raise_for_status().json()['access_token']}"}
    start = date.today() - timedelta(days=30)  # noqa: DTZ011 - a date on a form, not an instant

    def upload(body: io.FileIO, filename: str) -> dict[str, Any]:
        response = http.post(
            f"/institutions/{institution['id']}/evidence",
            headers=learner_auth,
            data={
                "competence_id": competence_id,
                "title": "Upload memory benchmark",
                "hours": "2",
                "start_date": start.isoformat(),
                "end_date": (start + timedelta(days=5)).isoformat(),
                "provider": "bench",
                "kind": "course",
            },
            # httpx streams a file object in 64 KiB chunks, with a Content-Length from fstat.
            files=[("files", (filename, body, "application/pdf"))],
        )
        if response.is_error:
            raise RuntimeError(f"upload -> {response.status_code}: {response.text[:500]}")
        record: dict[str, Any] = response.json()
        return record

    return upload


# --- Measuring a process's memory through /proc. ---


def proc_status(pid: int) -> dict[str, int]:
    """The ``Vm*``/``Rss*`` lines of ``/proc/<pid>/status``, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key.startswith(("Vm", "Rss")) and rest.strip().endswith("kB"):
            values[key] = int(rest.split()[0]) * 1024
    return values


def rss(pid: int) -> int:
    return proc_status(pid)["VmRSS"]


def reset_peak(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) of ``pid``; False if the kernel refuses."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples a process's RSS in a background thread: ``(monotonic time, bytes)`` pairs."""

    def __init__(self, pid: int, interval: float) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with suppress(OSError, KeyError):
                self.samples.append((time.monotonic(), rss(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, since: float = 0.0, until: float = float("inf")) -> int:
        return max((value for t, value in self.samples if since <= t < until), default=0)


# --- The file, the intake process, one measured upload. ---


class WatchedFile(io.FileIO):
    """A file that notes when it was read to its end: when the client has sent the whole body."""

    sent_at: float | None = None

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        if not data and self.sent_at is None:
            self.sent_at = time.monotonic()
        return data or b""


def write_pdf(path: Path, size: int) -> str:
    """Write a ``size``-byte file a PDF sniffer accepts (a small PDF, then junk); its sha256."""
    digest = hashlib.sha256()
    head = minimal_pdf("microcred upload memory benchmark")
    block = os.urandom(MiB)  # incompressible, so nothing on the way can shrink it
    with path.open("wb") as out:
        out.write(head)
        digest.update(head)
        left = size - len(head)
        while left > 0:
            chunk = block[: min(left, len(block))]
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


@contextmanager
def intake_process(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """One ``python -m microcred_intake``, stopped (SIGTERM, then SIGKILL) on the way out."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "microcred_intake"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(http: httpx.Client, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"intake exited ({process.returncode}):\n{tail(log_path)}")
        with suppress(httpx.HTTPError):
            if http.get("/readyz", timeout=2).status_code == httpx.codes.OK:
                return
        time.sleep(0.2)
    raise RuntimeError(f"intake not ready after {READY_TIMEOUT_SECONDS:.0f}s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class Run:
    run: int
    rss_before_mib: float
    peak_rss_mib: float
    #: peak - the baseline after warm-up: the figure the budget is about.
    growth_mib: float
    #: The peak while the request body was arriving, and while intake hashed and stored it.
    peak_receiving_mib: float
    peak_storing_mib: float
    rss_after_mib: float
    samples: int
    seconds: float
    mib_per_second: float
    intake_cpu_seconds: float
    client_cpu_seconds: float


def measure(
    pid: int,
    upload: Uploader,
    path: Path,
    sha256: str,
    *,
    number: int,
    baseline: int,
    interval: float,
) -> Run:
    """Upload ``path`` once while sampling intake's RSS; check intake stored what was sent."""
    before = rss(pid)
    hwm_reset = reset_peak(pid)
    cpu_before = cpu_seconds(pid)
    with WatchedFile(path, "rb") as body, RssSampler(pid, interval) as sampler:
        client_cpu = time.thread_time()
        started = time.monotonic()
        record = upload(body, path.name)
        elapsed = time.monotonic() - started
        client_cpu = time.thread_time() - client_cpu
        sent_at = body.sent_at or started
    status = proc_status(pid)
    peak = max(sampler.peak(), status["VmHWM"] if hwm_reset else 0)
    stored = record["files"][0]
    if (stored["size"], stored["sha256"]) != (path.stat().st_size, sha256):
        raise RuntimeError(f"intake stored {stored}, not the file sent")
    size_mib = path.stat().st_size / MiB
    return Run(
        run=number,
        rss_before_mib=round(before / MiB, 1),
        peak_rss_mib=round(peak / MiB, 1),
        growth_mib=round((peak - baseline) / MiB, 1),
        peak_receiving_mib=round(sampler.peak(until=sent_at) / MiB, 1),
        peak_storing_mib=round(sampler.peak(since=sent_at) / MiB, 1),
        rss_after_mib=round(status["VmRSS"] / MiB, 1),
        samples=len(sampler.samples),
        seconds=round(elapsed, 2),
        mib_per_second=round(size_mib / elapsed, 1),
        intake_cpu_seconds=round(cpu_seconds(pid) - cpu_before, 2),
        client_cpu_seconds=round(client_cpu, 2),
    )


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],  # noqa: S607 - git from PATH
            capture_output=True,
            text=True,
            check=True,
            cwd=BENCH_DIR,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=50, help="file size (default 50 MiB)")
    parser.add_argument("--runs", type=int, default=3, help="measured uploads (default 3)")
    parser.add_argument("--budget-mb", type=float, default=20, help="allowed growth, MB (1e6 B)")
    parser.add_argument("--interval", type=float, default=0.02, help="RSS sampling interval, s")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON result file")
    parser.add_argument("--note", default="", help="free text kept with the result")
    args = parser.parse_args(argv)
    size = args.size_mib * MiB
    budget = int(args.budget_mb * MB)

    with tempfile.TemporaryDirectory(prefix="microcred-bench-") as scratch_name:
        scratch = Path(scratch_name)
        print(f"writing a {args.size_mib} MiB PDF ...", flush=True)
        big, small = scratch / "evidence-big.pdf", scratch / "evidence-warmup.pdf"
        big_sha = write_pdf(big, size)
        write_pdf(small, 64 * 1024)
        print("starting the embedded stack (Kafka, SecantusDB, SeaweedFS, SMTP) ...", flush=True)
        with embedded_servers() as servers:
            if servers.stack is None:  # pragma: no cover - embedded_servers always has one
                raise RuntimeError("the embedded stack has no configuration")
            port = servers.stack.intake_port  # chosen free; the stack's services are not started
            env = {
                **os.environ,
                **servers.platform_env(),
                "MICROCRED_INTAKE_HTTP_PORT": str(port),
                "MICROCRED_INTAKE_MAX_FILE_BYTES": str(max(100 * MiB, 2 * size)),
            }
            log_path = scratch / "intake.log"
            with (
                intake_process(env, log_path) as process,
                httpx.Client(
                    base_url=f"http://127.0.0.1:{port}", timeout=UPLOAD_TIMEOUT_SECONDS
                ) as http,
            ):
                wait_ready(http, process, log_path)
                upload = intake_uploader(http, servers.mail.messages)
                with WatchedFile(small, "rb") as body:
                    upload(body, small.name)
                time.sleep(1.0)  # let the warm-up's threads and buffers settle
                baseline = rss(process.pid)
                print(
                    f"intake pid {process.pid}, baseline RSS after warm-up {baseline / MiB:.1f} MiB"
                )
                runs = []
                for number in range(1, args.runs + 1):
                    if number > 1:
                        # Fresh bytes each time: intake refuses a file a learner sent already.
                        big_sha = write_pdf(big, size)
                    run = measure(
                        process.pid,
                        upload,
                        big,
                        big_sha,
                        number=number,
                        baseline=baseline,
                        interval=args.interval,
                    )
                    runs.append(run)
                    print(
                        f"run {number}: peak {run.peak_rss_mib:.1f} MiB, "
                        f"growth {run.growth_mib:+.1f} MiB "
                        f"(receiving {run.peak_receiving_mib:.1f}, "
                        f"storing {run.peak_storing_mib:.1f}, after {run.rss_after_mib:.1f}), "
                        f"{run.seconds:.2f} s, {run.mib_per_second:.0f} MiB/s, "
                        f"CPU intake {run.intake_cpu_seconds:.2f} s / "
                        f"client {run.client_cpu_seconds:.2f} s",
                        flush=True,
                    )

    worst = max(run.growth_mib for run in runs) * MiB
    passed = worst < budget
    verdict = "PASS" if passed else "FAIL"
    print(
        f"{verdict}: largest growth {worst / MiB:.1f} MiB ({worst / MB:.1f} MB), "
        f"budget {budget / MB:.0f} MB ({budget / MiB:.1f} MiB)"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "intake upload memory",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_commit(),
        **({"note": args.note} if args.note else {}),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "file_mib": args.size_mib,
        "budget_mb": args.budget_mb,
        "baseline_rss_mib": round(baseline / MiB, 1),
        "largest_growth_mib": round(worst / MiB, 1),
        "verdict": verdict,
        "runs": [asdict(run) for run in runs],
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
