"""Reads a media item Twilio names in a webhook (``MediaUrlN``): HTTP GET with basic auth (the account SID
and the auth token, as Twilio's media URLs require when HTTP auth is on), redirects followed (httpx drops
the credentials when a redirect leaves Twilio's host), at most a given number of bytes."""

from __future__ import annotations

import httpx

MAX_REDIRECTS = 3


class MediaUnreadable(Exception):
    """The item could not be read: not https, refused, unreachable, or larger than asked."""


class TwilioMedia:
    """`handlers.MediaSource` over HTTP. `auth_token` is the Twilio auth token ("" : no credentials sent);
    `transport` replaces the network (tests). Opened by `start()`, closed by `stop()`."""

    def __init__(self, auth_token: str, *, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._token = auth_token
        self._timeout_s = timeout_s
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the HTTP client (at the service's start)."""
        self._http = httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                                       transport=self._transport)

    async def stop(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def read(self, url: str, *, account_sid: str | None, max_bytes: int) -> bytes:
        """The item's bytes. Raises `MediaUnreadable` (not https, not started, an HTTP error or status,
        more than `max_bytes` bytes)."""
        if self._http is None:
            raise MediaUnreadable("media reader not started")
        if not url.lower().startswith("https://"):
            raise MediaUnreadable("media URL is not https")
        auth = (account_sid, self._token) if account_sid and self._token else None
        try:
            async with self._http.stream("GET", url, auth=auth) as r:
                if not r.is_success:
                    raise MediaUnreadable(f"media answered {r.status_code}")
                data = bytearray()
                async for chunk in r.aiter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        raise MediaUnreadable(f"media larger than {max_bytes} bytes")
                return bytes(data)
        except httpx.HTTPError as exc:
            raise MediaUnreadable(type(exc).__name__) from exc
