"""Retention as pure functions: find phone numbers and email addresses in free text and remove or replace
them, erase or pseudonymise a reporter's personal data, and say whether a closed case is past retention.

Phone numbers are found with `phonenumbers.PhoneNumberMatcher` (libphonenumber's matcher, leniency
POSSIBLE so that numbers outside the metadata's assigned ranges are caught too); email addresses with the
HTML Living Standard's "valid email address" pattern (WHATWG HTML §4.10.5.1.5), required to have a dot in
the domain so that text such as "a@b" is left alone. A pseudonym is a stable keyed digest (HMAC-SHA256):
the same value gives the same pseudonym, so records stay linkable without the value; only the secret `key`
(the case service's `OMNI311_RETENTION_PSEUDONYM_KEY`) keeps a phone number's pseudonym from being found by
trying every number, so pseudonymising without one is only as good as erasing the text. Source of the policy:
docs/staff-work.md, "Retention".
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import datetime, timedelta
from typing import Any, Literal

import phonenumbers

Mode = Literal["erase", "pseudonymise"]

EMAIL_RE = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]+@"
    r"[^\W_](?:[\w-]{0,61}[^\W_])?(?:\.[^\W_](?:[\w-]{0,61}[^\W_])?)+"
)
"""An email address in running text: WHATWG HTML's "valid email address" with at least one dot after @,
widened to Unicode letters and digits (regex word characters) as RFC 6531 local parts and IDN domains allow, so that
``josée.côté@vidéotron.ca`` is found as ``ann@example.org`` is."""

ERASED_PHONE = "[phone removed]"
ERASED_EMAIL = "[email removed]"


def pseudonym(kind: str, value: str, *, salt: str = "", key: str = "") -> str:
    """A stable stand-in for `value` of `kind` (``phone``, ``email``, a pii key): `kind` + 12 hex digits of
    HMAC-SHA256 under the secret `key` over salt, kind and the case-folded value. Without the key it cannot
    be turned back into the value; with an empty key, a value from a small space (a phone number) can be
    found again by trying them all."""
    message = f"{salt}:{kind}:{value.strip().casefold()}".encode()
    digest = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:12]
    return f"{kind}-{digest}"


def _replacement(kind: str, value: str, mode: Mode, salt: str, key: str) -> str:
    if mode == "pseudonymise":
        return f"[{pseudonym(kind, value, salt=salt, key=key)}]"
    return ERASED_PHONE if kind == "phone" else ERASED_EMAIL


def redact(text: str, *, mode: Mode = "erase", region: str = "US", salt: str = "", key: str = ""
           ) -> tuple[str, int]:
    """`text` with every email address and phone number replaced (erase: ``[email removed]`` /
    ``[phone removed]``; pseudonymise: ``[email-<digest>]`` / ``[phone-<digest>]``) and how many were
    replaced. Numbers without ``+`` are read in `region` (ISO 3166 alpha-2, e.g. the jurisdiction's
    country); `salt` and `key` are the pseudonyms' (`pseudonym`). Emails go first, so the digits of an address are never taken for a phone number."""
    count = 0

    def on_email(m: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return _replacement("email", m.group(0), mode, salt, key)

    out = EMAIL_RE.sub(on_email, text)
    spans = [(m.start, m.end, m.raw_string) for m in phonenumbers.PhoneNumberMatcher(
        out, region, leniency=phonenumbers.Leniency.POSSIBLE)]
    for start, end, raw in reversed(spans):
        out = out[:start] + _replacement("phone", raw, mode, salt, key) + out[end:]
        count += 1
    return out, count


def redact_tree(value: Any, *, mode: Mode = "erase", region: str = "US", salt: str = "", key: str = ""
                ) -> tuple[Any, int]:
    """`value` (JSON: dicts, lists, strings, numbers) with `redact` applied to every string in it, and the
    count of replacements."""
    if isinstance(value, str):
        return redact(value, mode=mode, region=region, salt=salt, key=key)
    if isinstance(value, dict):
        total, out = 0, {}
        for k, v in value.items():
            out[k], n = redact_tree(v, mode=mode, region=region, salt=salt, key=key)
            total += n
        return out, total
    if isinstance(value, list):
        total, items = 0, []
        for v in value:
            item, n = redact_tree(v, mode=mode, region=region, salt=salt, key=key)
            items.append(item)
            total += n
        return items, total
    return value, 0


def reporter_pii(pii: dict[str, Any], *, contact_key: str, mode: Mode, key: str = "") -> dict[str, Any]:
    """A reporter's `pii` after retention: erased (``{}``), or each non-null value replaced by its
    pseudonym salted with the reporter's `contact_key` under the secret `key` (the keys stay, so staff see
    which kinds were given)."""
    if mode == "erase":
        return {}
    return {k: (pseudonym(str(k), str(v), salt=contact_key, key=key) if v is not None else None)
            for k, v in pii.items()}


def cutoff(now: datetime, closed_days: int) -> datetime:
    """The latest closing time of a case past retention at `now`: `closed_days` days before."""
    return now - timedelta(days=closed_days)


def past_retention(closed_at: datetime | None, now: datetime, closed_days: int) -> bool:
    """True when a case closed at `closed_at` (None: open) has been closed `closed_days` days or more."""
    return closed_at is not None and closed_at <= cutoff(now, closed_days)
