"""`X-Hub-Signature-256` for Meta webhooks: HMAC-SHA256 of the raw body bytes with the app secret.

Meta signs the exact bytes it sends (non-ASCII characters arrive escaped as ``\\uXXXX``), so the check
runs on the request body as received, before any JSON parsing: a body that was decoded and encoded
again, even to the same JSON, no longer verifies. Same scheme as GitHub's webhook deliveries.
"""

from __future__ import annotations

import hashlib
import hmac
import re

PREFIX = "sha256="
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def sign(secret: bytes, body: bytes) -> str:
    """The header value Meta would send for `body`: ``sha256=`` + 64 lower-case hex digits."""
    return PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when `header` is ``sha256=<hex HMAC-SHA256(secret, body)>``.

    The comparison is constant-time; an empty secret, a missing header, another algorithm (the legacy
    ``sha1=`` header) or a malformed digest never verify.
    """
    if not secret or not header or not header.startswith(PREFIX):
        return False
    digest = header[len(PREFIX):].strip()
    if not _HEX64.match(digest):
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), digest.lower().encode("ascii"))
