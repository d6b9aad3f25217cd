"""A local SMTP sink: accepts every message and keeps it in a Maildir for inspection.

Run as ``python -m microcred_shared.stack.smtp_sink --port 18025 --maildir .data/smtp``; list the
messages with ``microcred mail list``. It stands in for a mail relay on machines without one.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import signal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


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


def read_messages(maildir: Path) -> list[EmailMessage]:
    """Every message the sink kept, oldest first (Maildir names start with the arrival time)."""
    if not maildir.exists():
        return []
    box = mailbox.Maildir(maildir, create=False)
    messages: list[EmailMessage] = []
    for key in sorted(box.keys(), key=lambda k: (float(k.split(".", 1)[0]), k)):
        parsed = message_from_bytes(box.get_bytes(key), policy=policy.default)
        assert isinstance(parsed, EmailMessage)  # noqa: S101 - policy.default yields these
        messages.append(parsed)
    return messages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18025)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args(argv)
    handler = MaildirHandler(args.maildir)
    controller = Controller(
        handler, hostname=args.host, port=args.port, server_kwargs={"data_size_limit": 25 << 20}
    )
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
