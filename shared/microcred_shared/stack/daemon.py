"""The supervising process behind ``microcred infra up`` and ``microcred up``.

``python -m microcred_shared.stack.daemon infra|services`` starts that group of components,
records its pid in ``<data>/run/<group>.pid``, restarts whatever falls, and stops everything in
order on SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from microcred_shared.logging import configure_logging, get_logger
from microcred_shared.stack.components import infra_components, service_components
from microcred_shared.stack.config import StackConfig
from microcred_shared.stack.supervisor import Component, Supervisor

log = get_logger(__name__)

GROUPS = ("infra", "services")


def pid_file(cfg: StackConfig, group: str) -> Path:
    return cfg.run_dir / f"{group}.pid"


def running_pid(cfg: StackConfig, group: str) -> int | None:
    """The pid of the group's live supervisor, or None (a stale pid file is removed)."""
    path = pid_file(cfg, group)
    try:
        pid = int(path.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError):
        path.unlink(missing_ok=True)
        return None
    # A pid is reused once its process ends: only our own supervisor counts as running.
    if b"microcred_shared.stack.daemon" not in command:
        path.unlink(missing_ok=True)
        return None
    return pid


def components_of(cfg: StackConfig, group: str) -> list[Component]:
    return infra_components(cfg) if group == "infra" else service_components(cfg)


async def supervise(cfg: StackConfig, group: str) -> int:
    supervisor = Supervisor(components_of(cfg, group))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    path = pid_file(cfg, group)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(os.getpid()))
    try:
        starting = asyncio.create_task(supervisor.start_all())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done() and starting.exception() is not None:
            log.error("stack.start_failed", group=group, error=str(starting.exception()))
            return 1
        if not stop.is_set():
            (cfg.run_dir / f"{group}.ready").touch()
            watching = asyncio.create_task(supervisor.watch())
            await stop.wait()
            watching.cancel()
        else:
            starting.cancel()
        return 0
    finally:
        (cfg.run_dir / f"{group}.ready").unlink(missing_ok=True)
        await supervisor.stop_all()
        path.unlink(missing_ok=True)


def main() -> None:
    group = sys.argv[1] if len(sys.argv) > 1 else ""
    if group not in GROUPS:
        sys.exit(f"usage: python -m microcred_shared.stack.daemon {{{'|'.join(GROUPS)}}}")
    configure_logging(f"stack-{group}", "INFO", "console")
    sys.exit(asyncio.run(supervise(StackConfig(), group)))


if __name__ == "__main__":
    main()
