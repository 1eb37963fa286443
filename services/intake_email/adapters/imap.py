"""One IMAP session on the city mailbox (aioimaplib), where every wait on the network is bounded.

aioimaplib leaves a command pending forever when the server closes the socket without answering, and
waits for the IDLE continuation without a deadline; so every call here races the command against a
timeout and against the connection-lost callback, and anything unexpected (closed socket, ``BYE``,
a ``NO``/``BAD`` answer, silence) raises `ImapUnavailable`: the caller drops the session and reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from aioimaplib import aioimaplib

T = TypeVar("T")

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]", re.IGNORECASE)
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]", re.IGNORECASE)
_EXISTS = re.compile(rb"^(\d+) EXISTS", re.IGNORECASE)
_NEW_MAIL = re.compile(rb"^\d+ (EXISTS|RECENT)\b", re.IGNORECASE)
_BYE = re.compile(rb"^(\* )?BYE\b", re.IGNORECASE)
_FETCH_BODY = re.compile(rb"^\d+ FETCH \(.*BODY\[\]", re.IGNORECASE)


class ImapUnavailable(Exception):
    """The session cannot go on (refused, closed, BYE, timed out, or a command failed): reconnect."""


@dataclass(frozen=True)
class SelectedMailbox:
    """What SELECT said: UIDVALIDITY, UIDNEXT (None when the server omits it) and the message count."""

    uidvalidity: int
    uidnext: int | None
    exists: int


class ImapSession:
    """A logged-in session with one mailbox selected. `timeout_s` bounds every wait, in seconds.

    Create with `await ImapSession.open(...)`; always `await close()` (also after an error).
    """

    def __init__(self, host: str, port: int, *, tls: bool, timeout_s: float) -> None:
        self._timeout = timeout_s
        self._lost = asyncio.Event()
        ctx = ssl.create_default_context() if tls else None
        cls = aioimaplib.IMAP4_SSL if tls else aioimaplib.IMAP4
        kwargs: dict[str, Any] = {"ssl_context": ctx} if tls else {}
        self._client = cls(host=host, port=port, timeout=timeout_s, conn_lost_cb=lambda _exc: self._lost.set(),
                           **kwargs)

    @classmethod
    async def open(cls, host: str, port: int, *, user: str, password: str, mailbox: str, tls: bool = False,
                   timeout_s: float = 20.0) -> tuple[ImapSession, SelectedMailbox]:
        """Connect, log in and SELECT `mailbox` (read-write, so that flags can be stored).

        Raises `ImapUnavailable` when any step fails or takes longer than `timeout_s` seconds.
        """
        session = cls(host, port, tls=tls, timeout_s=timeout_s)
        try:
            await session._bounded(session._client.wait_hello_from_server(), "greeting")
            await session._ok(session._client.login(user, password), "LOGIN")
            selected = await session._ok(session._client.select(mailbox), f"SELECT {mailbox}")
        except BaseException:
            await session.close()
            raise
        return session, _selected(selected.lines)

    @property
    def supports_idle(self) -> bool:
        """The server announced IDLE (RFC 2177) in its capabilities."""
        return self._client.has_capability("IDLE")

    @property
    def lost(self) -> bool:
        """The connection to the server is gone (closed by either side, or failed)."""
        return self._lost.is_set()

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, ascending (``UID SEARCH UID n:*``, which always names the highest UID
        even when it is lower than n, so the answer is filtered)."""
        response = await self._ok(self._client.uid_search("UID", f"{last_uid + 1}:*", charset=None), "UID SEARCH")
        uids: set[int] = set()
        for line in response.lines[:-1]:
            if isinstance(line, (bytes, bytearray)):
                uids.update(int(tok) for tok in bytes(line).split() if tok.isdigit())
        return sorted(u for u in uids if u > last_uid)

    async def fetch(self, uid: int) -> bytes | None:
        """The whole message with this UID, as bytes (``BODY.PEEK[]``: fetching does not set \\Seen);
        None when it no longer exists (expunged meanwhile)."""
        response = await self._ok(self._client.uid("fetch", str(uid), "(UID BODY.PEEK[])"), f"UID FETCH {uid}")
        lines = response.lines
        for i, line in enumerate(lines[:-1]):
            if isinstance(line, bytes) and _FETCH_BODY.match(line) and i + 1 < len(lines) \
                    and isinstance(lines[i + 1], bytearray):
                return bytes(lines[i + 1])
        return None

    async def add_flags(self, uids: list[int], flags: str) -> bool:
        """``UID STORE uids +FLAGS (flags)``; False when the server refused (e.g. no keywords allowed)."""
        if not uids:
            return True
        response = await self._bounded(
            self._client.uid("store", ",".join(map(str, uids)), "+FLAGS.SILENT", f"({flags})"), "UID STORE")
        return response.result == "OK"

    async def noop(self) -> None:
        """Ask the server something: raises `ImapUnavailable` when it no longer answers."""
        await self._ok(self._client.noop(), "NOOP")

    async def idle(self, max_s: float) -> bool:
        """IDLE (RFC 2177) for at most `max_s` seconds; True as soon as the server announces new mail
        (EXISTS/RECENT), False when the time is up. Ends with DONE and waits for the server to close the
        IDLE, within the timeout: an IDLE that never ends, a BYE or a closed socket raise
        `ImapUnavailable`."""
        idle_done = await self._bounded(self._client.idle_start(timeout=max_s + self._timeout), "IDLE")
        deadline = time.monotonic() + max_s
        new_mail = False
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                finished, push = await self._race(self._client.wait_server_push(timeout=remaining + 5), remaining)
                if not finished or push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                lines = [bytes(x) for x in (push if isinstance(push, list) else [push])
                         if isinstance(x, (bytes, bytearray))]
                if any(_BYE.match(x) for x in lines):
                    raise ImapUnavailable("server said BYE during IDLE")
                if any(_NEW_MAIL.match(x) for x in lines):
                    new_mail = True
                    break
        finally:
            if not self._lost.is_set():
                with contextlib.suppress(Exception):
                    self._client.idle_done()
        response = await self._bounded(idle_done, "IDLE DONE")
        if response.result != "OK":
            raise ImapUnavailable(f"IDLE ended with {response.result}")
        return new_mail

    async def close(self) -> None:
        """Log out politely when the connection still works, then drop the socket; never raises."""
        if not self._lost.is_set() and self._client.protocol is not None:
            with contextlib.suppress(Exception):
                await self._race(self._client.logout(), min(self._timeout, 3.0))
        with contextlib.suppress(Exception):
            if self._client.protocol and self._client.protocol.transport:
                self._client.protocol.transport.close()
        waiter = getattr(self._client, "_idle_waiter", None)
        if waiter is not None:
            waiter.cancel()
        for task in list(getattr(self._client, "tasks", ())) + list(getattr(self._client.protocol, "tasks", ())):
            task.cancel()
        with contextlib.suppress(Exception):
            self._client._client_task.cancel()  # a connect still in flight

    # --- bounded waits ------------------------------------------------------------------------------

    async def _race(self, aw: Awaitable[T], timeout: float) -> tuple[bool, T | None]:
        """(True, result) when `aw` finished within `timeout` seconds, (False, None) when the time ran out;
        raises `ImapUnavailable` at once when the connection is lost, and what `aw` raised otherwise."""
        task = asyncio.ensure_future(aw)
        lost = asyncio.ensure_future(self._lost.wait())
        try:
            await asyncio.wait({task, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            lost.cancel()
        if task.done():
            try:
                return True, task.result()
            except ImapUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - refused, reset, protocol state errors: reconnect
                raise ImapUnavailable(f"{type(exc).__name__}: {exc}") from exc
        task.cancel()
        if self._lost.is_set():
            raise ImapUnavailable("connection closed by the server")
        return False, None

    async def _bounded(self, aw: Awaitable[T], what: str) -> T:
        finished, result = await self._race(aw, self._timeout)
        if not finished:
            raise ImapUnavailable(f"no answer to {what} within {self._timeout:g} s")
        return result  # type: ignore[return-value]

    async def _ok(self, aw: Awaitable[Any], what: str) -> Any:
        response = await self._bounded(aw, what)
        if response.result != "OK":
            text = b" ".join(bytes(x) for x in response.lines if isinstance(x, (bytes, bytearray)))[:200]
            raise ImapUnavailable(f"{what} answered {response.result}: {text.decode('ascii', 'replace')}")
        if any(isinstance(x, bytes) and _BYE.match(x) for x in response.lines):
            raise ImapUnavailable(f"server said BYE during {what}")
        return response


def _selected(lines: list[Any]) -> SelectedMailbox:
    uidvalidity = uidnext = None
    exists = 0
    for line in lines:
        if not isinstance(line, (bytes, bytearray)):
            continue
        line = bytes(line)
        if m := _UIDVALIDITY.search(line):
            uidvalidity = int(m.group(1))
        if m := _UIDNEXT.search(line):
            uidnext = int(m.group(1))
        if m := _EXISTS.match(line):
            exists = int(m.group(1))
    if uidvalidity is None:
        raise ImapUnavailable("SELECT gave no UIDVALIDITY (RFC 3501 requires it)")
    return SelectedMailbox(uidvalidity=uidvalidity, uidnext=uidnext, exists=exists)
