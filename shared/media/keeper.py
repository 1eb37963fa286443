"""What every channel's media keeper shares: one HTTP client opened and closed with the service, and the
step that keeps a download as ours (`keep_copy`) and answers our public URL for it (docs/channels.md,
"Media kept by us"). Each channel adds how it authenticates and resolves its provider's links."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from shared.media.fetch import MediaLimits, MediaUnavailable, Resolver
from shared.media.links import keep_copy
from shared.media.store import MediaStore


class HttpMediaKeeper:
    """Downloads kept in a service's media table.

    `store()` gives the `MediaStore` (the pool opens in the lifespan; None: nothing can be kept, every
    download is refused); `base_url` the public base of our ``/media`` (e.g.
    ``https://311.example.org/sms/media``); `limits` the download limits (its `max_redirects` also bounds
    the client's own redirects); `transport` and `resolve` replace the network and the resolver (tests).
    Opened by `start()`, closed by `stop()`."""

    def __init__(self, *, store: Callable[[], MediaStore] | None, base_url: str, limits: MediaLimits,
                 transport: httpx.AsyncBaseTransport | None = None, resolve: Resolver | None = None) -> None:
        self._store = store
        self._base = base_url.rstrip("/")
        self._limits = limits
        self._transport = transport
        self._resolve = resolve
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the HTTP client (inside the service's lifespan)."""
        self._http = httpx.AsyncClient(timeout=self._limits.timeout_s, transport=self._transport,
                                       max_redirects=self._limits.max_redirects)

    async def stop(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _keep(self, url: str, *, auth: httpx.Auth | tuple[str, str] | None, channel_message_id: str) -> str:
        """Download `url` with `auth`, clean it and keep it as carried by `channel_message_id`; our URL
        (``<base_url>/<media id>``). Raises `MediaRefused`, `MediaUnavailable` (also when not started or
        without a store) and the database's errors."""
        if self._http is None or self._store is None:
            raise MediaUnavailable("media keeping is not started")
        media_id = await keep_copy(self._http, url, self._store(), channel_message_id=channel_message_id,
                                   auth=auth, limits=self._limits, resolve=self._resolve)
        return f"{self._base}/{media_id}"
