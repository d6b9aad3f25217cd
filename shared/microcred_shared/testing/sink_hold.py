"""The test's side of the SMTP sink's hold (``--hold-dir``, see ``stack.smtp_sink.HoldGate``).

Put the hold on, wait until a session waits at RCPT, see whether any session could still store
a message, kill whoever the test wants to kill, then see what became of the held session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from microcred_shared.stack.smtp_sink import DROPPED, HELD, HOLD_FILE, OPEN, RELEASED

FATES = (HELD, RELEASED, DROPPED)


@dataclass(frozen=True)
class HeldSession:
    """A session the sink held at RCPT (``held-<pid>-<number>``, or what it became)."""

    kind: str
    pid: int
    number: int
    recipient: str
    peer: str
    since: float

    @property
    def name(self) -> str:
        return f"{self.pid}-{self.number}"


@dataclass(frozen=True)
class SinkHold:
    directory: Path

    def on(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / HOLD_FILE).touch()

    def off(self) -> None:
        (self.directory / HOLD_FILE).unlink(missing_ok=True)

    def sessions(self, kind: str = HELD, pid: int | None = None) -> list[HeldSession]:
        """Held sessions in state ``kind`` (of the sink ``pid``, if given), oldest first."""
        found = []
        for path in self.directory.glob(f"{kind}-*"):
            _, owner, number = path.name.split("-")
            if pid is not None and int(owner) != pid:
                continue
            try:
                content = json.loads(path.read_text())
            except FileNotFoundError:  # its state changed while listing
                continue
            found.append(
                HeldSession(
                    kind=kind,
                    pid=int(owner),
                    number=int(number),
                    recipient=content["recipient"],
                    peer=content["peer"],
                    since=content["since"],
                )
            )
        return sorted(found, key=lambda s: (s.since, s.number))

    def fate(self, session: HeldSession) -> str | None:
        """What the held session has become: still ``held``, ``released`` or ``dropped``."""
        for kind in FATES:
            if (self.directory / f"{kind}-{session.name}").exists():
                return kind
        return None

    def open_sessions(self, pid: int) -> int:
        """Sessions of sink ``pid`` with an accepted recipient, which could still store mail."""
        return len(list(self.directory.glob(f"{OPEN}-{pid}-*")))
