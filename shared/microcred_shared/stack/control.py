"""Starting and stopping a group's supervisor in the background (``microcred`` and the tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping

from microcred_shared.stack.components import preflight
from microcred_shared.stack.config import StackConfig
from microcred_shared.stack.daemon import pid_file, running_pid
from microcred_shared.stack.supervisor import StartupError, log_tail

START_TIMEOUT_SECONDS = 300.0
#: The supervisor stops its components one by one, each within 20 s before it is killed.
STOP_TIMEOUT_SECONDS = 150.0


def start_group(cfg: StackConfig, group: str, env: Mapping[str, str] | None = None) -> bool:
    """Start a group's supervisor in the background and wait until all of it is healthy.

    Returns False when it was running already; raises ``StartupError`` when it cannot start.
    """
    if running_pid(cfg, group) is not None:
        return False
    if group == "infra":
        preflight(cfg)
    cfg.logs.mkdir(parents=True, exist_ok=True)
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    ready = cfg.run_dir / f"{group}.ready"
    ready.unlink(missing_ok=True)
    log_path = cfg.logs / f"supervisor-{group}.log"
    with log_path.open("ab") as log_handle:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "microcred_shared.stack.daemon", group],
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {}), **cfg.to_env()},
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not ready.exists():
        if process.poll() is not None:
            raise StartupError(
                f"microcred {group} failed to start; {log_path} ends with:\n{log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            process.terminate()
            raise StartupError(f"microcred {group} did not start in time; see {log_path}")
        time.sleep(0.2)
    return True


def stop_group(cfg: StackConfig, group: str) -> bool:
    """Stop a group's supervisor (and so its components); False when it was not running."""
    pid = running_pid(cfg, group)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    while pid_file(cfg, group).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return True
