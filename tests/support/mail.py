"""Reading a mailbox on the test mail server (GreenMail creates a mailbox for any address it receives
mail for, with the address as login and password)."""

from __future__ import annotations

import asyncio
import email
import imaplib
from email import policy
from email.message import EmailMessage

from support.infra import IMAP


def _fetch_all(address: str, password: str | None = None) -> list[EmailMessage]:
    box = imaplib.IMAP4(*IMAP)
    try:
        box.login(address, password or address)
        box.select("INBOX", readonly=True)
        _typ, data = box.search(None, "ALL")
        out = []
        for num in data[0].split():
            _typ, parts = box.fetch(num, "(RFC822)")
            out.append(email.message_from_bytes(parts[0][1], policy=policy.default))
        return out
    except imaplib.IMAP4.error:
        return []  # no mailbox yet: nothing was delivered to it
    finally:
        try:
            box.logout()
        except Exception:  # noqa: BLE001
            pass


async def inbox(address: str, password: str | None = None) -> list[EmailMessage]:
    """Every message in `address`'s INBOX, parsed with `policy.default`."""
    return await asyncio.to_thread(_fetch_all, address, password)


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    return body.get_content() if body is not None else ""
