"""Server processes a test owns: started, SIGKILLed and started again when the test says.

They are the stack's own :class:`~microcred_shared.stack.supervisor.Component` (the same command
line, environment and health check as ``microcred up``), but no supervisor restarts them: the
test decides when one dies and when it comes back, on the same port and data.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from microcred_shared.stack.components import service_component, smtp_component
from microcred_shared.stack.config import StackConfig
from microcred_shared.stack.supervisor import (
    HEALTH_POLL_SECONDS,
    Component,
    StartupError,
    log_tail,
    spawn,
    terminate,
)
from microcred_shared.testing.servers import Servers, free_port


@dataclass
class OwnProcess:
    """One component run as a process of its own, in its own process group."""

    component: Component
    process: asyncio.subprocess.Process | None = None
    #: The process ids it has had, first start first.
    pids: list[int] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.component.name

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        """Spawn it and wait until its health check passes (refused if it is running)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        component = self.component
        if component.prepare is not None:
            await component.prepare()
        self.process = await spawn(component)
        self.pids.append(self.process.pid)
        deadline = time.monotonic() + component.startup_timeout
        while True:
            if self.process.returncode is not None:
                raise StartupError(
                    f"{self.name} exited with code {self.process.returncode} while starting; "
                    f"its log ({component.log_file}) ends with:\n{log_tail(component.log_file)}"
                )
            try:
                healthy = await component.health()
            except Exception:  # noqa: BLE001 - not healthy yet
                healthy = False
            if healthy:
                if component.after_start is not None:
                    await component.after_start()
                return
            if time.monotonic() >= deadline:
                await self.kill()
                raise StartupError(
                    f"{self.name} was not healthy after {component.startup_timeout:.0f}s; its "
                    f"log ({component.log_file}) ends with:\n{log_tail(component.log_file)}"
                )
            await asyncio.sleep(HEALTH_POLL_SECONDS)

    async def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no clean-up of any kind."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()

    async def stop(self) -> None:
        """SIGTERM, as an orderly shutdown does; SIGKILL if it does not end in time."""
        if self.process is not None:
            await terminate(self.process)

    def log(self) -> str:
        return log_tail(self.component.log_file, 40)


@contextlib.asynccontextmanager
async def owned(*processes: OwnProcess) -> AsyncIterator[None]:
    """Stop every one of ``processes`` (in reverse order) when the block ends, however it ends."""
    try:
        yield
    finally:
        for process in reversed(processes):
            await process.stop()


def own_stack_config(directory: Path) -> StackConfig:
    """A stack configuration whose data and logs are in ``directory``, on free ports.

    Only the ports of what a test runs itself matter: the SMTP sink's and the services'.
    """
    return StackConfig(
        data_dir=directory,
        smtp_port=free_port(),
        intake_port=free_port(),
        review_port=free_port(),
        accounting_port=free_port(),
        issuer_port=free_port(),
        notifier_port=free_port(),
    )


def own_smtp_sink(cfg: StackConfig, hold_dir: Path | None = None) -> OwnProcess:
    """The stack's SMTP sink on ``cfg.smtp_port``, keeping ``cfg.maildir``; holdable if asked."""
    component = smtp_component(cfg)
    if hold_dir is not None:
        component = dataclasses.replace(
            component, command=[*component.command, "--hold-dir", str(hold_dir)]
        )
    return OwnProcess(component)


def own_service(
    servers: Servers, cfg: StackConfig, service: str, settings: dict[str, str]
) -> OwnProcess:
    """``python -m microcred_<service>`` on the session's servers, its port and SMTP ``cfg``'s.

    ``settings`` (name to value) are given as ``MICROCRED_<SERVICE>_<NAME>``: the service's own
    prefix wins over the platform-wide variables of the session and of the test's environment.
    """
    prefix = f"MICROCRED_{service.upper()}_"
    own = {
        "http_host": cfg.host,
        "http_port": str(cfg.service_port(service)),
        "public_url": cfg.service_url(service),
        "smtp_host": cfg.host,
        "smtp_port": str(cfg.smtp_port),
        **settings,
    }
    env = {**servers.platform_env(), **{prefix + k.upper(): v for k, v in own.items()}}
    return OwnProcess(service_component(cfg, service, env))
