"""A published message's media links replaced by our copies (docs/channels.md, "Media kept by us"): the loop
every channel runs over `MessageReceived.media_url` before it publishes, so that the case links to a file we
keep; a file that cannot be kept keeps the provider's link and its reason goes in
``attributes.media_failed``. The message is never lost to a download."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from shared.events import MessageReceived
from shared.media.fetch import MediaRefused, MediaUnavailable

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
