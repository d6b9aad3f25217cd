"""A local SMTP sink: accepts every message and keeps it in a Maildir for inspection.

Run as ``python -m microcred_shared.stack.smtp_sink --port 18025 --maildir .data/smtp``; list the
messages with ``microcred mail list``. It stands in for a mail relay on machines without one.

With ``--hold-dir DIR`` a test can stop sessions in the middle of a transaction, to kill a client or
the sink itself at a known point (see :class:`HoldGate`); without it the sink accepts at once.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import mailbox
import os
import re
import signal
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOLD_FILE = "hold"
HELD, RELEASED, DROPPED, OPEN = "held", "released", "dropped", "open"
HOLD_POLL_SECONDS = 0.02


class MaildirHandler:
    def __init__(self, maildir: Path) -> None:
        self.maildir = mailbox.Maildir(maildir, create=True)

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or b""
        recipients = ", ".join(str(r) for r in envelope.rcpt_tos)
        # The envelope recipients are kept as a header: Bcc copies would otherwise be invisible.
        stamped = f"X-Sink-Rcpt-To: {recipients}\r\n".encode() + content
        await asyncio.to_thread(self.maildir.add, stamped)
        return "250 Message accepted for delivery"


class HoldGate:
    """Holds recipients while ``DIR/hold`` exists, and says on disk which sessions are where.

    A recipient command (RCPT, before any DATA: nothing can be stored yet) waits while the file
    ``hold`` exists, polling it, and answers once it is gone. Markers, named
    ``<kind>-<sink pid>-<number>`` so that a restarted sink never reuses one, tell a test what
    happens, each written whole (renamed into place):

    - ``held-…``: a session is waiting at RCPT now; it holds ``{"recipient", "peer", "since"}``.
      It becomes ``released-…`` when the hold lifts, ``dropped-…`` when the client goes away
      while held. A ``held-…`` left behind by a killed sink shows the sink died holding it.
    - ``open-…``: a session with an accepted recipient, which may go on to DATA and store a
      message; it is removed when the session ends. While ``hold`` exists no new one appears, so
      once none is left no message can be stored whose acceptance its client has not heard.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self._numbers = itertools.count(1)
        self._open: dict[int, Path] = {}

    def holding(self) -> bool:
        return (self.directory / HOLD_FILE).exists()

    def _marker(self, kind: str, number: int) -> Path:
        return self.directory / f"{kind}-{os.getpid()}-{number}"

    def _write(self, path: Path, content: dict[str, object]) -> None:
        partial = path.with_name(f".{path.name}.tmp")
        partial.write_text(json.dumps(content))
        partial.replace(path)

    async def wait(self, session: Session, recipient: str) -> None:
        """Return once no hold is on; while one is, keep a ``held-…`` marker for the session."""
        if not self.holding():
            return
        number = next(self._numbers)
        held = self._marker(HELD, number)
        self._write(held, {"recipient": recipient, "peer": str(session.peer), "since": time.time()})
        try:
            # A file, not an event: the test that sets it runs in another process.
            while self.holding():  # noqa: ASYNC110
                await asyncio.sleep(HOLD_POLL_SECONDS)
        except asyncio.CancelledError:
            # aiosmtpd cancels the session's handler when its client disconnects.
            held.replace(self._marker(DROPPED, number))
            raise
        held.replace(self._marker(RELEASED, number))

    def accepted(self, session: Session) -> None:
        """The session has a recipient: DATA may follow, until the session ends."""
        if id(session) not in self._open:
            marker = self._marker(OPEN, next(self._numbers))
            self._write(marker, {"peer": str(session.peer), "since": time.time()})
            self._open[id(session)] = marker

    def ended(self, session: Session) -> None:
        marker = self._open.pop(id(session), None)
        if marker is not None:
            marker.unlink(missing_ok=True)


class HoldingMaildirHandler(MaildirHandler):
    """A :class:`MaildirHandler` whose recipients wait at a :class:`HoldGate`."""

    def __init__(self, maildir: Path, gate: HoldGate) -> None:
        super().__init__(maildir)
        self.gate = gate

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        _server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        await self.gate.wait(session, address)
        # What aiosmtpd does without this hook.
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        self.gate.accepted(session)
        return "250 OK"


class _SessionEndingSMTP(SMTP):
    """Tells the gate when a session ends (QUIT, the client gone, a time-out)."""

    def connection_lost(self, error: Exception | None) -> None:
        session = self.session
        try:
            super().connection_lost(error)
        finally:
            if session is not None and isinstance(self.event_handler, HoldingMaildirHandler):
                self.event_handler.gate.ended(session)


class _HoldingController(Controller):
    def factory(self) -> SMTP:
        return _SessionEndingSMTP(self.handler, **self.SMTP_kwargs)


def make_controller(
    host: str, port: int, maildir: Path, hold_dir: Path | None = None
) -> Controller:
    """The sink's server (not started); with ``hold_dir``, its recipients obey a hold there."""
    data_size_limit = 25 << 20
    if hold_dir is None:
        return Controller(
            MaildirHandler(maildir), hostname=host, port=port, data_size_limit=data_size_limit
        )
    return _HoldingController(
        HoldingMaildirHandler(maildir, HoldGate(hold_dir)),
        hostname=host,
        port=port,
        data_size_limit=data_size_limit,
    )


#: Python's Maildir names: ``<seconds>.M<microseconds>P<pid>Q<count>.<host>``.
_MAILDIR_NAME = re.compile(r"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.")


def _arrival(key: str) -> tuple[int, int, int, str]:
    """Sort key of a Maildir name by arrival: the microseconds as a number, not as text.

    Compared as text, ``M98765`` sorts after ``M123456``: two messages of one second came out
    in the wrong order now and then.
    """
    found = _MAILDIR_NAME.match(key)
    if found is None:
        return (int(float(key.split(".", 1)[0] or 0)), 0, 0, key)
    seconds, micros, _pid, count = (int(part) for part in found.groups())
    return (seconds, micros, count, key)


def read_messages(maildir: Path) -> list[EmailMessage]:
    """Every message the sink kept, oldest first (Maildir names start with the arrival time)."""
    if not maildir.exists():
        return []
    box = mailbox.Maildir(maildir, create=False)
    messages: list[EmailMessage] = []
    for key in sorted(box.keys(), key=_arrival):
        parsed = message_from_bytes(box.get_bytes(key), policy=policy.default)
        assert isinstance(parsed, EmailMessage)  # noqa: S101 - policy.default yields these
        messages.append(parsed)
    return messages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18025)
    parser.add_argument("--maildir", type=Path, required=True)
    parser.add_argument(
        "--hold-dir",
        type=Path,
        default=None,
        help="for tests: while DIR/hold exists, recipients wait (markers in DIR say who)",
    )
    args = parser.parse_args(argv)
    controller = make_controller(args.host, args.port, args.maildir, args.hold_dir)
    controller.start()
    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
