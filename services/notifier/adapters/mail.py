"""Sending email over SMTP with aiosmtplib."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib


@dataclass(frozen=True)
class SmtpSender:
    """Sends one message to the configured SMTP server; `timeout_s` in seconds.

    Raises `aiosmtplib.SMTPException` (refused, auth failed) or `OSError`/`TimeoutError` (unreachable).
    """

    host: str
    port: int
    username: str | None
    password: str | None
    timeout_s: float = 10.0

    async def send(self, message: EmailMessage) -> None:
        """Send `message` to the recipients its headers name, over plain SMTP (no STARTTLS or TLS), each
        step within `timeout_s` seconds; raises as the class says."""
        await aiosmtplib.send(
            message, hostname=self.host, port=self.port, username=self.username, password=self.password,
            timeout=self.timeout_s, start_tls=False, use_tls=False,
        )
