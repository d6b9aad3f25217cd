"""Sending email over SMTP with aiosmtplib; any relay (a sink, Mailpit, a provider) will do."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from microcred_shared.settings import SmtpSettings


class PermanentDeliveryError(Exception):
    """The relay refused the message for good (5xx); retrying will not help."""


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, message: EmailMessage) -> None:
        s = self._settings
        try:
            await aiosmtplib.send(
                message,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                use_tls=s.smtp_security == "tls",
                start_tls=s.smtp_security == "starttls",
                timeout=s.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            # Every recipient refused: a 5xx for an address does not heal by retrying.
            codes = [error.code for error in exc.recipients]
            if codes and all(500 <= code < 600 for code in codes):  # noqa: PLR2004
                raise PermanentDeliveryError(f"recipient refused: {codes}") from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:  # noqa: PLR2004
                raise PermanentDeliveryError(f"{exc.code} {exc.message}") from exc
            raise

    async def ping(self) -> None:
        s = self._settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            use_tls=s.smtp_security == "tls",
            start_tls=False,
            timeout=5,
        )
        await client.connect()
        try:
            await client.noop()
        finally:
            await client.quit()
