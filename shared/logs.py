"""Structured logs (structlog) carrying event and correlation ids, with personal data masked.

STYLE.md rule 10: logs never carry raw phone numbers, emails, names or street addresses.
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
    {"email", "phone", "handle", "first_name", "last_name", "name", "address", "address_string",
     "to", "recipient", "from_", "sender", "pii"}
)


def mask_value(value: Any) -> Any:
    """A short, stable, non-reversible stand-in for a personal value (e.g. ``pii:3f9a1c``)."""
    if value is None or value == "":
        return value
    if isinstance(value, Mapping):
        return {k: mask_value(v) for k, v in value.items()}
    digest = hashlib.sha256(str(value).encode()).hexdigest()[:6]
    return f"pii:{digest}"


_AT_TOKEN = re.compile(r"[^\s'\"<>(),;\[\]{}]*@[^\s'\"<>(),;\[\]{}]*")
_E164 = re.compile(r"\+\d{8,15}\b")


def scrub_text(text: str) -> str:
    """Mask what looks personal inside free text: any token with an ``@`` (email addresses, handles,
    Message-IDs) and E.164 phone numbers. Error texts quote their input (pydantic's ValidationError,
    SMTP rejections), so keys alone cannot keep personal data out of logs.
    """
    text = _AT_TOKEN.sub(lambda m: mask_value(m.group()), text)
    return _E164.sub(lambda m: mask_value(m.group()), text)


def mask_pii(_logger: Any, _name: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: replace the values of personal-data keys at any depth of dicts and lists,
    and scrub every other string with `scrub_text`."""

    def walk(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {k: mask_value(x) if k in PII_KEYS else walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        if isinstance(v, str):
            return scrub_text(v)
        return v

    return walk(event_dict)


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Configure structlog and the stdlib root logger once per process (called by `create_app`)."""
    lvl = logging.getLevelName(level.upper())
    logging.basicConfig(stream=sys.stderr, level=lvl, format="%(message)s", force=True)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
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
