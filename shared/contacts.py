"""Contact keys and phone numbers: one rule for every intake channel.

A contact key is the `intake.messages` partition key of a reporter: non-reversible, stable, and the
same on every channel that knows the same identifier (a phone number texted, called in or typed in an
Open311 form; an email address written to or typed in), so that a resident's messages keep their order
and their cases line up.
"""

from __future__ import annotations

import hashlib
import re

import phonenumbers


def contact_key(kind: str, value: str) -> str:
    """``ck_`` + 32 hex digits of SHA-256 over ``<kind>:<value>`` (value trimmed and case-folded).

    `kind` names the identifier: ``email``, ``phone`` (E.164), ``account``, ``device``, or a platform
    (``messenger``, ``mastodon``...) for platform user ids.
    """
    return "ck_" + hashlib.sha256(f"{kind}:{value.strip().casefold()}".encode()).hexdigest()[:32]


def anonymous_contact_key(channel: str, fallback: str) -> str:
    """A key for a report with no identifier: derived from the message itself (`fallback`, e.g. a token
    or a Message-ID), so it orders with nothing else."""
    return "ck_anon_" + hashlib.sha256(f"{channel}:{fallback}".encode()).hexdigest()[:24]


def e164(raw: str | None, default_region: str = "US") -> str | None:
    """The number in E.164 (``+16135550123``), or None when it cannot be a phone number.

    Numbers without ``+`` are read in `default_region` (ISO 3166 alpha-2). Accepts what
    `phonenumbers.is_possible_number` accepts rather than `is_valid_number`, so that a newly assigned
    range missing from the metadata still reaches its case.
    """
    text = (raw or "").strip()
    if len(re.sub(r"\D", "", text)) < 4:
        return None
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])", re.UNICODE)
"""An email address as people write it (RFC 5322's dot-atom local part, a dotted domain ending in letters)."""

_NANP_SHAPED = re.compile(r"(?<![\w+-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]\d{4}(?![\w-])")
"""Ten digits written as a North American number (212-555-0123, (617) 555 0123, 514.872.0311) even where the
area code or exchange is not assigned, which `phonenumbers` does not call valid."""


def scrub_contacts(text: str, region: str = "US") -> str:
    """`text` with every email address replaced by ``[email]`` and every phone number by ``[phone]``.

    Phone numbers are what `phonenumbers.PhoneNumberMatcher` finds at `Leniency.VALID` (numbers without
    ``+`` read in `region`, ISO 3166 alpha-2: 212-555-0123, (617) 555 0123, +33 1 42 76 40 40, 514.872.0311),
    plus any ten digits written in the North American shape; `VALID` rather than `POSSIBLE` so that an
    address such as "87-10 162 Street" is left alone. Emails go first, so that digits inside an address
    are not read as a phone number. Used for open data (docs/residents-and-insights.md, "Insights")."""
    if not text:
        return text
    out = _EMAIL.sub("[email]", text)
    spans = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(out, region.upper(),
                                                                        leniency=phonenumbers.Leniency.VALID)]
    for start, end in reversed(spans):
        out = out[:start] + "[phone]" + out[end:]
    return _NANP_SHAPED.sub("[phone]", out)
