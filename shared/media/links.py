"""A published message's media links replaced by our copies (docs/channels.md, "Media kept by us"): the loop
every channel runs over `MessageReceived.media_url` before it publishes, so that the case links to a file we
keep; a file that cannot be kept keeps the provider's link and its reason goes in
``attributes.media_failed``. The message is never lost to a download. `keep_copy` is the one way a
channel's media adapter makes a copy: fetch, clean, store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx

from shared.events import MessageReceived
from shared.media.clean import clean
from shared.media.fetch import MediaLimits, MediaRefused, MediaUnavailable, Resolver, fetch
from shared.media.store import MediaStore

Keep = Callable[[str], Awaitable[str]]
"""Download, clean and keep the file at a provider link; our URL for it. Raises `MediaRefused` or
`MediaUnavailable` (the reason is kept on the message), or anything else (the database's errors)."""


async def with_our_media(msg: MessageReceived, keep: Keep, *, warn: Callable[..., None],
                         skip: Callable[[str], bool] = lambda _url: False,
                         keep_link_on: tuple[type[Exception], ...] = ()) -> MessageReceived:
    """`msg` with each link of `media_url` replaced, in order, by `keep(link)`; `msg` itself when it has none.

    - `skip(link)` True: the link stays as it is (e.g. a contact card, whose text is the description).
    - `MediaRefused`/`MediaUnavailable`: the link stays and the exception's `reason` is appended to
      ``attributes.media_failed`` (a list, one reason per file not kept, in order; absent when every file
      was kept); `warn("media_not_kept", channel=..., reason=...)` is called (no link nor words logged).
    - Another error of a type in `keep_link_on`: the same, with the reason ``"not stored (<type name>)"``.
      Each channel states its policy here: intake_sms_voice passes ``(Exception,)`` (Twilio does not send a
      webhook again; the text goes on with its link), intake_social passes nothing (the error propagates, the
      webhook answers 503 and Meta sends the batch again; keeping is idempotent).

    Raises whatever `keep` raises outside those types."""
    if not msg.media_url:
        return msg
    urls: list[str] = []
    failed: list[str] = []
    for url in msg.media_url:
        if skip(url):
            urls.append(url)
            continue
        try:
            urls.append(await keep(url))
        except (MediaRefused, MediaUnavailable) as exc:
            reason = exc.reason
        except keep_link_on as exc:
            reason = f"not stored ({type(exc).__name__})"
        else:
            continue
        warn("media_not_kept", channel=msg.channel, reason=reason)
        urls.append(url)
        failed.append(reason)
    attributes = (msg.attributes | {"media_failed": failed}) if failed else msg.attributes
    return msg.model_copy(update={"media_url": urls, "attributes": attributes})


async def keep_copy(client: httpx.AsyncClient, url: str, store: MediaStore, *, channel_message_id: str,
                    auth: httpx.Auth | tuple[str, str] | None = None, limits: MediaLimits = MediaLimits(),
                    resolve: Resolver | None = None) -> uuid.UUID:
    """Our copy of the file at `url`: downloaded with `fetch` (within `limits`, `auth` to its own origin only,
    `resolve` for tests), cleaned with `clean` in a worker thread (pictures re-encoded without metadata) and
    kept in `store` as carried by `channel_message_id`; returns its media id (served at ``/media/<id>``).
    Raises `MediaRefused`, `MediaUnavailable` and the database's errors."""
    fetched = await fetch(client, url, auth=auth, limits=limits, resolve=resolve)
    cleaned = await asyncio.to_thread(clean, fetched)
    return await store.put(cleaned, channel_message_id=channel_message_id)
