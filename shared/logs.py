"""Structured logs (structlog) carrying event and correlation ids, with personal data masked.

docs/architecture.md, house rule 10: logs never carry raw phone numbers, emails, names or street addresses.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog

PII_KEYS = frozenset(
    {"email", "phone", "handle", "first_name", "last_name", "name", "display_name", "address", "address_string",
     "to", "from", "recipient", "from_", "sender", "pii"}
)
"""Keys whose values are personal, compared case-insensitively (``From``, ``Email``, ``First_Name``)."""


_MAX_DEPTH = 64
_TOO_DEEP = "<nested too deep to log>"


def mask_value(value: Any, _depth: int = 0) -> Any:
    """A short, stable, non-reversible stand-in for a personal value (e.g. ``pii:3f9a1c``)."""
    if value is None or (isinstance(value, str) and not value):
        return value
    if isinstance(value, Mapping) and _depth < _MAX_DEPTH:
        return {k: mask_value(v, _depth + 1) for k, v in value.items()}
    try:
        text = str(value)
    except RecursionError:
        text = f"<{type(value).__name__}>"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return f"pii:{digest}"


_AT_TOKEN = re.compile(r"[^\s'\"<>(),;\[\]{}]*@[^\s'\"<>(),;\[\]{}]*")
_E164 = re.compile(r"\+\d{8,15}\b")
# North American numbers as people write them: 617-555-0123, (617) 555-0123, +1 617 555 0123.
_NANP = re.compile(r"(?<![\w+])(?:\+?1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w)")
# A personal key with its quoted value in a repr or JSON text: {'last_name': 'Dupont'}, "phone": "...",
# and the keyword form of dataclass and pydantic reprs: Pii(email='...', name='Ann Dupont').
_KEYS = "|".join(sorted(map(re.escape, PII_KEYS), key=len, reverse=True))
_QUOTED_PII = re.compile(
    r"""(?P<key>(?P<open>['"])(?:%s)(?P=open)\s*:\s*|(?<![\w.])(?:%s)=)(?P<q>['"])(?P<value>(?:\\.|(?!(?P=q)).)*)(?P=q)"""
    % (_KEYS, _KEYS),
    re.IGNORECASE,
)

# What every match of the four patterns above contains (a quote, "@", "+", "(" or three digits, a separator
# and three digits): a text without any of it is returned as is, without running them.
_MAYBE_PII = re.compile(r"""['"@+(]|\d{3}[ .-]\d{3}""")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _mask_quoted(m: re.Match[str]) -> str:
    return f"{m.group('key')}{m.group('q')}{mask_value(m.group('value'))}{m.group('q')}"


def scrub_text(text: str) -> str:
    """Mask what looks personal inside free text: the value next to a personal key quoted in a repr
    or JSON text (``'last_name': 'Dupont'``), any token with an ``@`` (email addresses, handles,
    Message-IDs), E.164 phone numbers and North American numbers written with separators. Error
    texts quote their input (pydantic's ValidationError, SMTP rejections), so keys alone cannot keep
    personal data out of logs.
    """
    if _UUID.fullmatch(text) or not _MAYBE_PII.search(text):
        return text  # nothing the patterns below could match (ids, timestamps, event names: most log values)
    text = _QUOTED_PII.sub(_mask_quoted, text)
    text = _AT_TOKEN.sub(lambda m: mask_value(m.group()), text)
    text = _E164.sub(lambda m: mask_value(m.group()), text)
    return _NANP.sub(lambda m: mask_value(m.group()), text)


def _is_pii_key(key: Any) -> bool:
    return isinstance(key, str) and key.casefold() in PII_KEYS


def mask_pii(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: replace the values of personal-data keys at any depth of dicts and lists,
    and scrub every other string, dict key and object with `scrub_text`.

    The JSON renderer writes any object that is not JSON (an exception, a set, bytes, a dataclass)
    as its ``repr()``, which may quote personal data: such values are turned into that text here, scrubbed.
    """

    def walk(v: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH and isinstance(v, Mapping | list | tuple):
            return _TOO_DEEP  # a log call must never raise, not even RecursionError on a hostile body
        if isinstance(v, Mapping):
            return {
                scrub_text(k) if isinstance(k, str) else k: mask_value(x) if _is_pii_key(k) else walk(x, depth + 1)
                for k, x in v.items()
            }
        if isinstance(v, list | tuple):
            return [walk(x, depth + 1) for x in v]
        if isinstance(v, str):
            return scrub_text(v)
        if v is None or isinstance(v, bool | int | float):
            return v
        custom = getattr(v, "__structlog__", None)
        return walk(custom(), depth + 1) if callable(custom) else scrub_text(repr(v))

    return walk(event_dict, 0)



def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Configure structlog and the stdlib root logger once per process (called by `create_app`)."""
    lvl = logging.getLevelName(level.upper())
    logging.basicConfig(stream=sys.stderr, level=lvl, format="%(message)s", force=True)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # Group membership (joined, generation, partitions revoked and assigned) is a few lines per rebalance, and
    # what ops need to read a rebalance; the rest of the client (fetches, connections) stays at WARNING.
    logging.getLogger("aiokafka.consumer.group_coordinator").setLevel(min(lvl, logging.INFO))
    logging.getLogger("faststream").setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_pii,  # after formatting, so that exception texts are scrubbed too
            structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
