"""Contact keys and phone numbers: one rule for every intake channel.

A contact key is the `intake.messages` partition key of a reporter: non-reversible, stable, and the
same on every channel that knows the same identifier (a phone number texted, called in or typed in an
Open311 form; an email address written to or typed in), so that a resident's messages keep their order
and their cases line up.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

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


_LOCAL = r"(?:\"[^\"\n@]{1,64}\"|(?<![\w.!#$%&'*+/=?^`{|}~-])[\w.!#$%&'*+/=?^`{|}~-]+)"
"""A local part: RFC 5322's dot-atom (matched from its first character only, so that a long run of such
characters is tried once, not from each of its characters) or a quoted string (``"carol smith"``)."""

_AT = r"(?:@|\s*[\[({]\s*at\s*[\])}]\s*)"
_DOT = r"(?:\.|\s*[\[({]\s*dot\s*[\])}]\s*)"
_EMAIL = re.compile(rf"{_LOCAL}{_AT}[\w-]+(?:{_DOT}[\w-]+)*{_DOT}[^\W\d_]{{2,}}(?![\w-])", re.UNICODE | re.IGNORECASE)
"""An email address as people write it: a local part, ``@`` or its bracketed spelling (``[at]``, ``(at)``,
``{at}``), a dotted domain (``.`` or ``[dot]``, ``(dot)``) ending in letters. A bare ``at`` / ``dot`` is not
read as one: it would take ordinary words ("meet at noon dot")."""

_NANP_SHAPED = re.compile(r"(?<![\w+-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]\d{4}(?![\w-])")
"""Ten digits written as a North American number (212-555-0123, (617) 555 0123, 514.872.0311) even where the
area code or exchange is not assigned, which `phonenumbers` does not call valid."""

_CUED_LOCAL = re.compile(
    r"(?<!\w)(?:call|phone|tel|telephone|cell|mobile|text|fax|ph|appel(?:ez|er)?|t[ée]l[ée]phone|t[ée]l|"
    r"cellulaire|texto)\b[\s.:#-]*(?:(?:me|us|moi)\s+)?(?:(?:at|on|au|le)\s+)?"
    r"(?P<number>(?<![\w-])\d{3}[\s.-]\d{4})(?![\w-])", re.IGNORECASE)
"""A seven-digit local number (555-0199) right after a word that says it is one ("call me at", "tel.",
"appelez le"). Seven digits alone are not scrubbed: "104-15 Roosevelt Ave" style NYC house numbers, house
number ranges ("100-1200 block") and ZIP+4 codes look the same."""


def _normalised(text: str) -> tuple[str, list[int]]:
    """`text` in NFKC, character by character (so ``＠`` is ``@`` and ``２`` is ``2``), and for each
    character of it the index of the character of `text` it came from."""
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        folded = ch if ch.isascii() else unicodedata.normalize("NFKC", ch)
        chars.append(folded)
        origin.extend([i] * len(folded))
    return "".join(chars), origin


def scrub_contacts(text: str, region: str = "US") -> str:
    """`text` with every email address replaced by ``[email]`` and every phone number by ``[phone]``.

    Matching is done on the text in NFKC (full-width ``＠`` and digits count); the rest of `text` is kept as
    written. Emails: a dot-atom or quoted (``"carol"@example.org``) local part, ``@`` or ``[at]`` /
    ``(at)`` / ``{at}``, a domain dotted with ``.`` or ``[dot]`` / ``(dot)``; a bare ``at`` is not read as
    ``@``. Phone numbers are what `phonenumbers.PhoneNumberMatcher` finds at `Leniency.VALID` (numbers
    without ``+`` read in `region`, ISO 3166 alpha-2: 212-555-0123, (617) 555 0123, +33 1 42 76 40 40,
    514.872.0311), plus any ten digits written in the North American shape, plus seven digits (555-0199)
    right after "call", "tel", "phone", "appelez"...; `VALID` rather than `POSSIBLE` so that an address such
    as "87-10 162 Street" is left alone. Emails go first, so that digits inside an address are not read as
    a phone number. Used for open data and the public case reads (docs/residents-and-insights.md)."""
    if not text:
        return text
    norm, origin = _normalised(text)
    spans: list[tuple[int, int, str]] = [(m.start(), m.end(), "[email]") for m in _EMAIL.finditer(norm)]
    masked = list(norm)
    for start, end, _ in spans:
        masked[start:end] = " " * (end - start)
    rest = "".join(masked)
    phones = [(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(rest, region.upper(),
                                                                         leniency=phonenumbers.Leniency.VALID)]
    phones += [m.span() for m in _NANP_SHAPED.finditer(rest)]
    phones += [m.span("number") for m in _CUED_LOCAL.finditer(rest)]
    merged: list[list[int]] = []
    for start, end in sorted(phones):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    spans += [(start, end, "[phone]") for start, end in merged]
    out = text
    for start, end, label in sorted(spans, reverse=True):
        out = out[:origin[start]] + label + out[origin[end - 1] + 1:]
    return out


_EMAIL_SHAPE = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+")


def looks_like_email(text: str) -> bool:
    """Whether `text` (already trimmed) is one email address as our forms accept it: at most 254 characters
    (RFC 5321 §4.5.3.1.3, the longest path), one ``@`` with something before it, and after it a domain holding a dot
    that is neither its first nor its last character; no whitespace, ``<``, ``>``, quote, ``,`` or ``;`` anywhere (one
    bare address, never a display name or a list). Non-ASCII letters pass: a caller that cannot send to them
    (no SMTPUTF8, RFC 6531) checks `str.isascii` itself."""
    return len(text) <= 254 and _EMAIL_SHAPE.fullmatch(text) is not None


def mask_email(address: str) -> str:
    """An email address shown to staff, enough to recognise it and not to use it: the first character of
    the local part, ``***``, and the domain after the LAST ``@`` (a quoted local part may hold an ``@``):
    ``jo.smith@example.org`` → ``j***@example.org``. Without ``@``: ``***``. Contract: docs/integrations.md,
    section 3, "One resident profile across channels"."""
    local, at, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}" if at else "***"


def mask_phone(number_e164: str) -> str:
    """A phone number (E.164) shown to staff: international format, the national digits but the first three
    and the last four starred: ``+15145550123`` → ``+1 514-***-0123``, ``+33142764040`` →
    ``+33 1 42 ** 40 40``. ``***`` for what `phonenumbers` cannot parse. Contract: docs/integrations.md,
    section 3."""
    try:
        number = phonenumbers.parse(number_e164)
    except phonenumbers.NumberParseException:
        return "***"
    text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    prefix = f"+{number.country_code}"
    national = text[len(prefix):] if text.startswith(prefix) else text
    n = sum(ch.isdigit() for ch in national)
    out, i = [], 0
    for ch in national:
        if ch.isdigit():
            out.append(ch if i < 3 or i >= n - 4 else "*")
            i += 1
        else:
            out.append(ch)
    return prefix + "".join(out)
