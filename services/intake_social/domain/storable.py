"""What a signed Meta delivery may hold that no event, PostgreSQL text or jsonb can carry, replaced (pure):
the one rule the webhook applies when it reads a delivery and the stores apply again before they write."""

from __future__ import annotations

import math
import re
from typing import Any

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""What no event or PostgreSQL text can carry: NUL, and lone surrogates (a ``\\ud800`` escape in JSON decodes
to one; UTF-8 cannot encode it)."""


def storable(value: Any) -> Any:
    """`value` (text or a parsed JSON value) as events, PostgreSQL text and jsonb take it, recursively: every
    `UNSTORABLE` character of a string (keys too, made text) replaced by U+FFFD, a non-finite float (Python's
    JSON reads ``NaN`` and ``Infinity``; jsonb refuses them) by its text (``"nan"``, ``"inf"``), a tuple as a
    list. A signed delivery holding one is then read, kept and published instead of failing each time (a 500
    on a lone surrogate in a message's text, a 503 on a NUL in its type: Meta sent the batch again forever;
    issue 12, kind 8, docs/channels.md "Odd bytes"). Raises nothing."""
    if isinstance(value, str):
        return UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {storable(str(k)): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value
