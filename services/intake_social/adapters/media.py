"""A Meta message's media downloaded at intake and kept in intake_social's schema (`shared.media`, table
`media`, migration 005), so that the case links to our copy instead of a provider link that expires or
needs the city's token (docs/channels.md, "Media kept by us").

Messenger and Instagram attachments come with a CDN link (`payload.url`), fetched as it is. A WhatsApp
media id (given to us as ``<graph_url>/<media id>``) is first resolved through the Graph API with the
access token (WhatsApp Cloud API, "Retrieve Media URL": ``GET /<media id>`` answers ``{"url": ...}``),
then downloaded from that URL with the same token.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import httpx

from shared.media import MediaLimits, MediaStore, MediaUnavailable
from shared.media.keeper import HttpMediaKeeper
from shared.media.fetch import Resolver


class _Bearer(httpx.Auth):
    """`Authorization: Bearer <token>` (sent by `shared.media.fetch` to the URL's own origin only)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


class MetaMedia(HttpMediaKeeper):
    """`MediaKeeper` over HTTP and the schema's media table.

    `store()` gives the `MediaStore` (the pool opens in the lifespan); `graph_url` is
    `MetaAccounts.graph_url`; `access_token` the WhatsApp Cloud API token (None: a WhatsApp media id
    cannot be resolved, its link is kept); `base_url` the public base of our ``/media`` (e.g.
    ``https://311.example.org/social/media``); `limits` the download limits; `transport` and `resolve`
    replace the network and the resolver (tests). Opened by `start()`, closed by `stop()`.
    """

    def __init__(self, store: Callable[[], MediaStore], *, graph_url: str, access_token: str | None, base_url: str,
                 limits: MediaLimits = MediaLimits(), transport: httpx.AsyncBaseTransport | None = None,
                 resolve: Resolver | None = None) -> None:
        super().__init__(store=store, base_url=base_url, limits=limits, transport=transport, resolve=resolve)
        self._graph = graph_url.rstrip("/") + "/"
        self._auth = _Bearer(access_token) if access_token else None

    async def keep(self, url: str, *, channel_message_id: str) -> str:
        """Download `url` (a WhatsApp ``<graph_url>/<media id>`` is resolved first), clean it and keep it as
        carried by `channel_message_id`; returns our URL (``<base_url>/<media id>``). Raises
        `shared.media.MediaRefused` (a file we do not keep) or `MediaUnavailable` (not reachable, no token
        for a WhatsApp media id, a Graph answer without a URL), and the database's errors."""
        if self._http is None:
            raise MediaUnavailable("media client not started")
        auth: httpx.Auth | None = None
        if url.startswith(self._graph):
            if self._auth is None:
                raise MediaUnavailable("no Meta access token to resolve a WhatsApp media id")
            url, auth = await self._resolved(url), self._auth
        return await self._keep(url, auth=auth, channel_message_id=channel_message_id)

    async def forget(self, channel_message_id: str) -> int:
        """Delete the files `channel_message_id` carried (an unsent message; `MediaStore.erase_for`); how many
        were deleted. Raises the database's errors."""
        assert self._store is not None, "MetaMedia is always given a store"
        return await self._store().erase_for([channel_message_id])

    async def _resolved(self, graph_media_url: str) -> str:
        """The download URL Graph gives for a media id (valid for a few minutes)."""
        assert self._http is not None and self._auth is not None
        try:
            r = await self._http.get(graph_media_url, auth=self._auth, timeout=self._limits.timeout_s)
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"{type(exc).__name__} from the Graph API") from exc
        if not r.is_success:
            raise MediaUnavailable(f"the Graph API answered {r.status_code} for a media id")
        try:
            body = r.json()
        except ValueError:
            body = None
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise MediaUnavailable("the Graph API gave no download URL for a media id")
        return url
