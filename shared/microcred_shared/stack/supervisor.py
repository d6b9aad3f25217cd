"""A small process supervisor: start components, wait for health, restart the fallen.

Each component is a real server process (or a service) with a health check. The components of a
group start together (none depends on another of its group; the services' group starts only once
the servers' group is healthy); a component that exits is restarted with a growing pause; on stop
they end in reverse order, politely first (SIGTERM), then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from microcred_shared.logging import get_logger

log = get_logger(__name__)

HealthCheck = Callable[[], Awaitable[bool]]

STOP_GRACE_SECONDS = 20.0
MAX_RESTART_PAUSE_SECONDS = 30.0
HEALTH_POLL_SECONDS = 0.25


class StartupError(RuntimeError):
    """A component did not become healthy; the message names it and where its log is."""


@dataclass
class Component:
    name: str
    command: Sequence[str]
    health: HealthCheck
    endpoint: str
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)
    #: Inherited variables the component must not see (e.g. credentials it would honour).
    env_removed: tuple[str, ...] = ()
    cwd: Path | None = None
    prepare: Callable[[], Awaitable[None]] | None = None
    after_start: Callable[[], Awaitable[None]] | None = None
    startup_timeout: float = 120.0


async def spawn(component: Component) -> asyncio.subprocess.Process:
    """Start ``component``'s command, its output appended to its log file."""
    component.log_file.parent.mkdir(parents=True, exist_ok=True)
    with component.log_file.open("ab") as log_handle:
        return await asyncio.create_subprocess_exec(
            *component.command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_handle,
            stderr=asyncio.subprocess.STDOUT,
            env={
                **{k: v for k, v in os.environ.items() if k not in component.env_removed},
                **component.env,
            },
            cwd=component.cwd,
            # Its own process group: a Ctrl-C in the terminal reaches the supervisor, which then
            # stops everything in order, instead of every child dying at once; and a kill of the
            # group reaches whatever the component started, and nothing else.
            start_new_session=True,
        )


@dataclass
class _Running:
    component: Component
    process: asyncio.subprocess.Process
    started: float


async def wait_until(
    check: HealthCheck, timeout: float, *, interval: float = HEALTH_POLL_SECONDS
) -> bool:
    """Poll ``check`` until it answers True or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await check():
                return True
        except Exception:  # noqa: BLE001, S110 - a failing check just means not yet
            pass
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval)


def log_tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return "(no log)"
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        handle.seek(max(0, handle.tell() - 8192))
        text = handle.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


class Supervisor:
    """Runs a group of components; they start together and stop in reverse order."""

    def __init__(self, components: Sequence[Component]) -> None:
        self.components = list(components)
        self._running: dict[str, _Running] = {}
        self._stopping = False
        self._restarts: dict[str, int] = {}

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def _spawn(self, component: Component) -> _Running:
        if self._stopping:
            raise StartupError(f"not starting {component.name}: the group is stopping")
        process = await spawn(component)
        running = _Running(component, process, time.monotonic())
        self._running[component.name] = running
        log.info("component.spawned", component=component.name, pid=process.pid)
        return running

    async def start(self, component: Component) -> None:
        if component.prepare is not None:
            await component.prepare()
        running = await self._spawn(component)

        async def healthy_or_dead() -> bool:
            if running.process.returncode is not None:
                raise StartupError(
                    f"{component.name} exited with code {running.process.returncode} while "
                    f"starting; its log ({component.log_file}) ends with:\n"
                    f"{log_tail(component.log_file)}"
                )
            return await component.health()

        deadline = time.monotonic() + component.startup_timeout
        while True:
            try:
                if await healthy_or_dead():
                    break
            except StartupError:
                raise
            except Exception:  # noqa: BLE001, S110 - not healthy yet
                pass
            if time.monotonic() >= deadline:
                raise StartupError(
                    f"{component.name} was not healthy after {component.startup_timeout:.0f}s; "
                    f"its log ({component.log_file}) ends with:\n{log_tail(component.log_file)}"
                )
            await asyncio.sleep(HEALTH_POLL_SECONDS)
        if component.after_start is not None:
            await component.after_start()
        log.info("component.healthy", component=component.name, endpoint=component.endpoint)

    async def start_all(self) -> None:
        """Start every component at once: none of a group waits on another of it.

        If one fails, the others' starts are cancelled, so that nothing is spawned after the
        group gives up.
        """
        tasks = [asyncio.create_task(self.start(component)) for component in self.components]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def watch(self) -> None:
        """Restart any component that exits, until ``stop_all``."""
        while not self._stopping:
            for name, running in list(self._running.items()):
                if self._stopping or running.process.returncode is None:
                    continue
                count = self._restarts.get(name, 0)
                # A component that ran a while before falling starts its backoff afresh.
                if time.monotonic() - running.started > MAX_RESTART_PAUSE_SECONDS:
                    count = 0
                pause = min(MAX_RESTART_PAUSE_SECONDS, 0.5 * 2**count)
                self._restarts[name] = count + 1
                log.warning(
                    "component.exited",
                    component=name,
                    code=running.process.returncode,
                    restart_in=pause,
                )
                await asyncio.sleep(pause)
                if self.stopping:
                    break
                try:
                    await self.start(running.component)
                except Exception:
                    log.exception("component.restart_failed", component=name)
            await asyncio.sleep(HEALTH_POLL_SECONDS)

    async def stop_all(self) -> None:
        self._stopping = True
        for component in reversed(self.components):
            running = self._running.pop(component.name, None)
            if running is not None:
                await terminate(running.process)
                log.info("component.stopped", component=component.name)


async def terminate(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
