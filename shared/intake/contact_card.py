"""A contact card a resident shares (a vCard through Twilio, a WhatsApp Cloud ``contacts`` message) as the
text staff read, the same on every channel (docs/channels.md, "Every message kind kept").

The card names a third person (a building manager, a neighbour): its words go only in the message's
description, where the case's erasure reaches them; the message's attributes say only how many cards came
(`cards_attribute`). Every value is bounded, so a card cannot make a message larger than an event may be.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_VALUE = 200
"""The longest name, organisation, phone or email kept from a card (characters; longer ones are cut)."""
MAX_ITEMS = 10
"""At most this many phones and emails each are kept from one card."""
MAX_CARDS = 10
"""At most this many cards are read from one message."""


def _bounded(value: str | None) -> str | None:
    text = " ".join(value.split())[:MAX_VALUE] if isinstance(value, str) else ""
    return text or None


@dataclass(frozen=True)
class SharedContact:
    """One card: the person's `name`, their `organisation`, and their phones and emails as written, each
    with its type when the card gives one (``("+1 613 555 0142", "WORK")``). Build it with `of`."""

    name: str | None = None
    organisation: str | None = None
    phones: tuple[tuple[str, str | None], ...] = ()
    emails: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def of(cls, *, name: str | None, organisation: str | None = None,
           phones: Iterable[tuple[str | None, str | None]] = (),
           emails: Iterable[tuple[str | None, str | None]] = ()) -> SharedContact | None:
        """The card with every value cut to `MAX_VALUE` characters and at most `MAX_ITEMS` phones and emails
        each (blank ones dropped); None when it names nobody and holds no phone or email."""
        def items(pairs: Iterable[tuple[str | None, str | None]]) -> tuple[tuple[str, str | None], ...]:
            kept = [(v, _bounded(t)) for v, t in ((_bounded(value), kind) for value, kind in pairs) if v]
            return tuple(kept[:MAX_ITEMS])

        card = cls(_bounded(name), _bounded(organisation), items(phones), items(emails))
        return card if card.name or card.phones or card.emails else None

    def as_text(self) -> str:
        """The card as lines: ``Contact: <name>``, ``Organisation: ...``, then ``Phone: <value> (<type>)``
        and ``Email: ...``, one per line."""
        lines = [f"Contact: {self.name}"] if self.name else []
        if self.organisation:
            lines.append(f"Organisation: {self.organisation}")
        for label, entries in (("Phone", self.phones), ("Email", self.emails)):
            lines.extend(f"{label}: {value}" + (f" ({kind})" if kind else "") for value, kind in entries)
        return "\n".join(lines)


def cards_text(cards: Sequence[SharedContact]) -> str:
    """The text of at most `MAX_CARDS` cards, a blank line between two."""
    return "\n\n".join(card.as_text() for card in cards[:MAX_CARDS])


def cards_attribute(cards: Sequence[SharedContact]) -> dict[str, Any]:
    """``attributes.shared_contact``: how many cards the message carried (``{"cards": n}``), never what they say."""
    return {"cards": min(len(cards), MAX_CARDS)}
