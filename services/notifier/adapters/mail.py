"""Sending email over SMTP with aiosmtplib, on a few connections kept open and reused."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from shared.logs import get_logger

log = get_logger(__name__)

SERVICE_CLOSING = 421
"""RFC 5321 §3.8 / §4.2.2: the server is closing the transmission channel (an idle timeout, a shutdown)."""


class _Connection(aiosmtplib.SMTP):
    """One SMTP session that remembers whether the current mail reached the DATA command: from then on the
    server may have taken the mail, so it is never sent again."""

    data_started = False

    async def data(self, message: str | bytes, /, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        self.data_started = True
        return await super().data(message, **kwargs)


def _lost_before_data(exc: BaseException, conn: _Connection) -> bool:
    """Whether a reused session failed as a closed channel does (dropped, timed out, 421) before DATA."""
    if conn.data_started:
        return False
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == SERVICE_CLOSING
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):  # 421 at RCPT: every recipient "refused" so
        return all(r.code == SERVICE_CLOSING for r in exc.recipients)
    return isinstance(exc, (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, ConnectionError))


@dataclass
class SmtpSender:
    """Sends messages to the configured SMTP server over at most `max_connections` sessions kept open
    (`notifier_send_concurrency`, one mail per session at a time); `timeout_s` in seconds per SMTP step;
    a session idle `max_idle_s` seconds is closed rather than reused. `close()` ends them (at shutdown).

    A reused session that fails before the mail reached DATA (the server closed it: idle timeout, 421, a
    dropped socket) is dropped and the mail sent once more on a new session; a failure from DATA on is
    raised and never resent, since the server may have taken the mail (at most once, README "Crashes").
    Raises `aiosmtplib.SMTPException` (refused, auth failed) or `OSError`/`TimeoutError` (unreachable).
    """

    host: str
    port: int
    username: str | None
    password: str | None
    timeout_s: float = 10.0
    max_connections: int = 8
    max_idle_s: float = 30.0
    _idle: list[tuple[_Connection, float]] = field(default_factory=list, init=False, repr=False)
    _slots: asyncio.Semaphore = field(init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {self.max_connections}")
        self._slots = asyncio.Semaphore(self.max_connections)  # binds to the running loop on first wait

    async def send(self, message: EmailMessage) -> None:
        """Send `message` to the recipients its headers name, over plain SMTP (no STARTTLS or TLS), each
        step within `timeout_s` seconds; raises as the class says."""
        async with self._slots:
            conn, reused = await self._take()
            try:
                await conn.send_message(message)
            except BaseException as exc:
                conn.close()
                if not (reused and _lost_before_data(exc, conn)):
                    raise
                log.info("smtp_session_lost_before_data", error=type(exc).__name__, resend="new session")
                conn = await self._open()
                try:
                    await conn.send_message(message)
                except BaseException:
                    conn.close()
                    raise
            self._give_back(conn)

    async def close(self) -> None:
        """End the idle sessions (QUIT, each within `timeout_s`); a session in use ends after its mail."""
        self._closed = True
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            try:
                await conn.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                conn.close()

    async def _take(self) -> tuple[_Connection, bool]:
        """A session for one mail: the most recently used one still open and not idle too long, else a
        new one; and whether it is reused."""
        now = time.monotonic()
        while self._idle:
            conn, since = self._idle.pop()
            if conn.is_connected and now - since < self.max_idle_s:
                conn.data_started = False
                return conn, True
            conn.close()
        return await self._open(), False

    async def _open(self) -> _Connection:
        conn = _Connection(hostname=self.host, port=self.port, username=self.username, password=self.password,
                           timeout=self.timeout_s, start_tls=False, use_tls=False)
        try:
            await conn.connect()
        except BaseException:
            conn.close()
            raise
        return conn

    def _give_back(self, conn: _Connection) -> None:
        if self._closed or not conn.is_connected:
            conn.close()
        else:
            self._idle.append((conn, time.monotonic()))
