"""A contact card a resident shares (a WhatsApp contact through Twilio arrives as a ``text/vcard`` or
``text/x-vcard`` media item): its name, phones and emails, read with `vobject` (vCard 2.1, 3.0 and 4.0,
RFC 6350), as the text of the message (`shared.intake.contact_card`, the same on every channel;
docs/channels.md, "Every message kind kept")."""

from __future__ import annotations

import re
from typing import Any

from shared.intake.contact_card import SharedContact

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
    return SharedContact.of(name=name, organisation=_organisation(contents.get("org", [None])[0]),
                            phones=((_text(x), _kind(x)) for x in contents.get("tel", [])),
                            emails=((_text(x), _kind(x)) for x in contents.get("email", [])))


def _text(line: Any) -> str | None:
    """A phone, email or name line's value as written (``tel:`` dropped); None when it holds no text."""
    value = getattr(line, "value", None)
    if not isinstance(value, str):
        return None
    return " ".join(value.split()).removeprefix("tel:") or None


def _kind(line: Any) -> str | None:
    """A phone or email line's first TYPE parameter (``WORK``, ``CELL``), upper case; None without one."""
    params = getattr(line, "params", None)
    types = params.get("TYPE") if isinstance(params, dict) else None
    first = types[0] if isinstance(types, list) and types else None
    return first.upper() if isinstance(first, str) and first.strip() else None


def _organisation(line: Any) -> str | None:
    """The ORG line as one text (its units, e.g. company and department, joined by commas); None without one."""
    value = getattr(line, "value", None)
    if isinstance(value, list):
        value = ", ".join(x for x in value if isinstance(x, str) and x.strip())
    return value if isinstance(value, str) and value.strip() else None
