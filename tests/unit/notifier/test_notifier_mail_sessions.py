"""SmtpSender keeps SMTP sessions open and reuses them, against a tiny local SMTP server: a session the
server closed is replaced and the mail sent once on it, a mail that reached DATA is never sent again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib
import pytest

from services.notifier.adapters.mail import SmtpSender


@dataclass
class StubSmtp:
    """A minimal SMTP server (RFC 5321 greeting, EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT). Knobs:
    `close_after_mail` closes the socket after each accepted mail (an idle timeout, seen on the next use);
    `answer_421` answers the next MAIL (or RCPT) with 421 and closes; `drop_after_data` reads the next mail's
    content and closes without answering (the server may have taken it)."""

    close_after_mail: bool = False
    answer_421: str | None = None
    drop_after_data: bool = False
    sessions: int = 0
    open_now: int = 0
    most_open: int = 0
    mails: list[bytes] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            await self._session(reader, writer)
        finally:
            self.open_now -= 1
            writer.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 stub ESMTP\r\n")
        while line := await reader.readline():
            verb = line.decode().strip().split(" ")[0].split(":")[0].upper()
            self.commands.append(verb)
            if verb in ("MAIL", "RCPT") and self.answer_421 == verb:
                self.answer_421 = None
                writer.write(b"421 closing\r\n")
                await writer.drain()
                return
            if verb == "EHLO":
                writer.write(b"250-stub\r\n250 8BITMIME\r\n")
            elif verb == "DATA":
                writer.write(b"354 go on\r\n")
                await writer.drain()
                body = await reader.readuntil(b"\r\n.\r\n")
                self.mails.append(body)
                if self.drop_after_data:
                    self.drop_after_data = False
                    return
                writer.write(b"250 queued\r\n")
                await writer.drain()
                if self.close_after_mail:
                    return
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()


@pytest.fixture
async def smtp() -> AsyncIterator[StubSmtp]:
    stub = StubSmtp()
    server = await asyncio.start_server(stub.handle, "127.0.0.1", 0)
    stub.port = server.sockets[0].getsockname()[1]
    async with server:
        yield stub
        server.close()


def mail(n: int) -> EmailMessage:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "311@city.test", f"resident{n}@example.test", f"Case {n}"
    m.set_content("Thank you.")
    return m


def sender(stub: StubSmtp, **kw: float) -> SmtpSender:
    return SmtpSender("127.0.0.1", stub.port, None, None, timeout_s=5.0, **kw)  # type: ignore[arg-type]


async def eventually_closed(stub: StubSmtp) -> None:
    async with asyncio.timeout(5):
        while stub.open_now:
            await asyncio.sleep(0.01)


async def test_mails_one_after_another_share_one_session(smtp: StubSmtp) -> None:
    s = sender(smtp)
    for n in range(3):
        await s.send(mail(n))
    await s.close()
    assert (smtp.sessions, len(smtp.mails)) == (1, 3)
    assert smtp.commands[-1] == "QUIT"
    await eventually_closed(smtp)


async def test_a_session_the_server_closed_is_replaced_and_each_mail_goes_once(smtp: StubSmtp) -> None:
    smtp.close_after_mail = True
    s = sender(smtp)
    await s.send(mail(1))
    await eventually_closed(smtp)  # the server closed it while idle: the next mail needs a new session
    await s.send(mail(2))
    await s.close()
    assert (smtp.sessions, len(smtp.mails)) == (2, 2)


@pytest.mark.parametrize("verb", ["MAIL", "RCPT"])
async def test_a_reused_session_answering_421_before_data_is_replaced_and_the_mail_sent_once(
        smtp: StubSmtp, verb: str) -> None:
    s = sender(smtp)
    await s.send(mail(1))
    smtp.answer_421 = verb
    await s.send(mail(2))
    await s.close()
    assert (smtp.sessions, len(smtp.mails)) == (2, 2)
    assert b"Case 2" in smtp.mails[1]


async def test_a_mail_whose_content_reached_the_server_is_never_sent_again(smtp: StubSmtp) -> None:
    s = sender(smtp)
    await s.send(mail(1))
    smtp.drop_after_data = True
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await s.send(mail(2))
    assert (smtp.sessions, len(smtp.mails)) == (1, 2)  # no second session, no second copy
    await s.send(mail(3))  # the broken session was dropped: the next mail opens a new one
    await s.close()
    assert (smtp.sessions, [b"Case 3" in m for m in smtp.mails]) == (2, [False, False, True])


async def test_a_new_session_that_fails_is_raised_not_retried(smtp: StubSmtp) -> None:
    smtp.answer_421 = "MAIL"
    with pytest.raises(aiosmtplib.SMTPResponseException) as raised:
        await sender(smtp).send(mail(1))
    assert (raised.value.code, smtp.sessions, smtp.mails) == (421, 1, [])


async def test_sends_at_once_use_at_most_max_connections_sessions(smtp: StubSmtp) -> None:
    s = sender(smtp, max_connections=2)
    await asyncio.gather(*(s.send(mail(n)) for n in range(10)))
    await s.close()
    assert (smtp.most_open, len(smtp.mails)) == (2, 10)
    await eventually_closed(smtp)


async def test_a_session_idle_too_long_is_closed_not_reused(smtp: StubSmtp) -> None:
    s = sender(smtp, max_idle_s=0.0)
    await s.send(mail(1))
    await s.send(mail(2))
    await s.close()
    assert (smtp.sessions, len(smtp.mails)) == (2, 2)


async def test_an_unreachable_server_raises_os_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(OSError):
        await SmtpSender("127.0.0.1", port, None, None, timeout_s=2.0).send(mail(1))
