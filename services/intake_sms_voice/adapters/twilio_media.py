"""Media a Twilio webhook names (``MediaUrlN``), read with HTTP basic auth (the account SID and the auth
token, as Twilio's media URLs require when HTTP auth is on; never sent to a redirect's other host):
photos, videos, voice notes and documents downloaded at intake and kept in intake_sms_voice's schema
(`shared.media`, table `media`, migration 002) so that the case links to our copy instead of a provider
link that needs credentials (docs/channels.md, "Media kept by us"); contact cards read as bytes, to be
turned into text (`domain.contact_card`)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from shared.media import MediaLimits, MediaStore
from shared.media.keeper import HttpMediaKeeper
from shared.media.fetch import Resolver

class MediaUnreadable(Exception):
    """A contact card could not be read: not https (unless private addresses are allowed), refused,
    unreachable, or larger than asked."""


class TwilioMedia(HttpMediaKeeper):
    """`handlers.MediaSource` over HTTP and the schema's media table.

    `auth_token` is the Twilio auth token ("": no credentials sent); `store()` gives the `MediaStore` (the
    pool opens in the lifespan; None: nothing can be kept, every download is refused); `base_url` the
    public base of our ``/media`` (e.g. ``https://311.example.org/sms/media``); `limits` the download
    limits (`allow_private` for local fakes only: it also lets contact cards come over plain http);
    `transport` and `resolve` replace the network and the resolver (tests). Opened by `start()`, closed
    by `stop()`."""

    def __init__(self, auth_token: str, *, store: Callable[[], MediaStore] | None = None, base_url: str = "",
                 limits: MediaLimits = MediaLimits(timeout_s=10.0),
                 transport: httpx.AsyncBaseTransport | None = None, resolve: Resolver | None = None) -> None:
        super().__init__(store=store, base_url=base_url, limits=limits, transport=transport, resolve=resolve)
        self._token = auth_token

    def _auth(self, account_sid: str | None) -> tuple[str, str] | None:
        return (account_sid, self._token) if account_sid and self._token else None

    async def keep(self, url: str, *, account_sid: str | None, channel_message_id: str) -> str:
        """Download `url` within the limits, clean it (pictures without metadata), keep it as carried by
        `channel_message_id`; returns our URL (``<base_url>/<media id>``). Raises `MediaRefused` (a file we do
        not keep, a private address...) or `MediaUnavailable` (not reachable, not started, no store), and
        the database's errors."""
        return await self._keep(url, auth=self._auth(account_sid), channel_message_id=channel_message_id)

    async def read(self, url: str, *, account_sid: str | None, max_bytes: int) -> bytes:
        """A contact card's bytes (at most `max_bytes`; at most `limits.max_redirects` redirects followed, httpx
        dropping the credentials when one leaves Twilio's host). Its URL comes from a signed webhook; it
        must be https unless `limits.allow_private` (local fakes). Raises `MediaUnreadable`. (Not
        `shared.media.fetch`: a vCard is no type it keeps.)"""
        if self._http is None:
            raise MediaUnreadable("media reader not started")
        if not url.lower().startswith("https://") and not (
                self._limits.allow_private and url.lower().startswith("http://")):
            raise MediaUnreadable("media URL is not https")
        try:
            async with self._http.stream("GET", url, auth=self._auth(account_sid), follow_redirects=True) as r:
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
