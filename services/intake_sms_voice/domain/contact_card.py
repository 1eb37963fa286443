"""A contact card a resident shares (a WhatsApp contact through Twilio arrives as a ``text/vcard`` or
``text/x-vcard`` media item): its name, phones and emails, read with `vobject` (vCard 2.1, 3.0 and 4.0,
RFC 6350), as the text of the message (docs/channels.md, "Every message kind kept")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

VCARD_TYPES = frozenset({"text/vcard", "text/x-vcard", "text/directory"})
"""Media types of a contact card."""
MAX_CARD_BYTES = 1024 * 1024
"""The largest card file read (bytes), the contact's photo included; a larger file is not a contact card we
read."""
MAX_CARD_TEXT = 64 * 1024
"""The largest card read once its binary properties (`BINARY_PROPERTIES`) are removed (characters)."""
BINARY_PROPERTIES = ("PHOTO", "LOGO", "SOUND", "KEY")
"""vCard properties that carry a file (base64, often tens of KB): removed unread, with their folded lines."""
_BINARY_LINE = re.compile(r"^(?:[A-Za-z0-9-]+\.)?(?:" + "|".join(BINARY_PROPERTIES) + r")[;:][^\n]*(?:\n[ \t][^\n]*)*\n?",
                          re.IGNORECASE | re.MULTILINE)
MAX_ITEMS = 10
"""At most this many phones and emails each are kept from one card."""


@dataclass(frozen=True)
class SharedContact:
    """The card's name (formatted name, else the structured one; None when neither), its phone numbers
    and emails as written (at most `MAX_ITEMS` each)."""

    name: str | None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()

    def as_text(self) -> str:
        """One line for the message description: ``Shared contact: Jane Roe, +1 613 555 0100, jane@x.org``."""
        parts = [p for p in (self.name, *self.phones, *self.emails) if p]
        return "Shared contact: " + ", ".join(parts)

    def as_attribute(self) -> dict[str, Any]:
        """``attributes.shared_contact``: ``{"name", "phones", "emails"}``."""
        return {"name": self.name, "phones": list(self.phones), "emails": list(self.emails)}


def is_card(content_type: str | None) -> bool:
    """True for a contact card's media type (parameters such as ``; charset=utf-8`` ignored)."""
    return (content_type or "").split(";")[0].strip().lower() in VCARD_TYPES


def read_card(data: bytes) -> SharedContact | None:
    """The first contact in the vCard `data` (UTF-8, else Windows-1252 as vCard 2.1 cards often are), its
    photo and other files (`BINARY_PROPERTIES`) left unread, or None when it is too large (`MAX_CARD_BYTES`,
    `MAX_CARD_TEXT` without its files), not a vCard, or names nobody and holds no phone or email. Never
    raises."""
    import vobject  # noqa: PLC0415 - loaded only when a card arrives

    if not data or len(data) > MAX_CARD_BYTES:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    text = _BINARY_LINE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if len(text) > MAX_CARD_TEXT:
        return None
    try:
        card = next(vobject.readComponents(text), None)
    except Exception:  # noqa: BLE001 - vobject raises many kinds for a malformed card
        return None
    if card is None or getattr(card, "name", "").upper() != "VCARD":
        return None
    contents = card.contents
    name = _text(contents.get("fn", [None])[0])
    if not name and contents.get("n"):
        n = contents["n"][0].value
        name = " ".join(x for x in (getattr(n, "given", ""), getattr(n, "family", "")) if isinstance(x, str) and x) \
            or None
    phones = tuple(p for p in (_text(x) for x in contents.get("tel", [])) if p)[:MAX_ITEMS]
    emails = tuple(e for e in (_text(x) for x in contents.get("email", [])) if e)[:MAX_ITEMS]
    if not (name or phones or emails):
        return None
    return SharedContact(name=name, phones=phones, emails=emails)


def _text(line: Any) -> str | None:
    value = getattr(line, "value", None)
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())[:200]
    return value.removeprefix("tel:") or None
