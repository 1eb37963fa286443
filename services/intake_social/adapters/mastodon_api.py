"""The city's Mastodon account through Mastodon.py: mention notifications, and the user stream as a wake-up.

Mastodon.py is synchronous (requests); its calls run in worker threads, and its streaming listener
runs in Mastodon.py's own thread, so it hands events to the event loop with `call_soon_threadsafe`.
Mastodon.py is imported when first used: importing it (urllib3) probes the network stack, which a
module must not do at import time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit


def mention_listener(on_mention: Callable[[Mapping[str, Any]], None],
                     on_lost: Callable[[BaseException], None] | None = None) -> Any:
    """A Mastodon.py stream listener: a mention notification calls `on_mention(notification)`; a lost
    connection calls `on_lost(error)` (Mastodon.py then reconnects by itself). Other events (home
    timeline updates, edits, deletions, event types of later versions) are not ours to handle."""
    from mastodon import StreamListener

    class MentionListener(StreamListener):
        """Hands mention notifications and stream losses to the callbacks (in Mastodon.py's thread)."""

        def on_notification(self, notification: Mapping[str, Any]) -> None:
            """A notification of the stream: only a mention calls `on_mention`."""
            if notification.get("type") == "mention":
                on_mention(notification)

        def on_abort(self, err: BaseException) -> None:
            """The stream was lost (Mastodon.py reconnects by itself): tell `on_lost`."""
            if on_lost is not None:
                on_lost(err)

        def on_unknown_event(self, name: str, unknown_event: Any = None) -> None:
            """Mastodon.py's default raises; a newer server's event must not break the stream."""

    return MentionListener()


class MastodonApi:
    """`MentionSource` on a Mastodon server for the account of `access_token`."""

    def __init__(self, api_base_url: str, access_token: str, *, request_timeout_s: float = 15.0) -> None:
        self.api_base_url = api_base_url.rstrip("/")
        self.instance_host = urlsplit(self.api_base_url).netloc
        from mastodon import Mastodon

        # "throw": a rate limit is an error the watcher backs off from, not a sleep inside a worker thread.
        self.client = Mastodon(access_token=access_token, api_base_url=self.api_base_url,
                               request_timeout=request_timeout_s, ratelimit_method="throw",
                               version_check_mode="none")
        self._stream: Any = None

    async def whoami(self) -> tuple[str, str]:
        """(account id, acct) of the city's account. Raises Mastodon.py's errors when unreachable."""
        me = await asyncio.to_thread(self.client.account_verify_credentials)
        return str(me["id"]), str(me["acct"])

    async def page(self, *, since_id: str | None, max_id: str | None, limit: int) -> list[Mapping[str, Any]]:
        """Mention notifications with `since_id` < id < `max_id`, newest first, at most `limit`
        (``GET /api/v1/notifications?types[]=mention``). Raises Mastodon.py's errors (a rate limit too)."""
        result = await asyncio.to_thread(self.client.notifications, types=["mention"], since_id=since_id,
                                         max_id=max_id, limit=limit)
        return list(result or [])

    async def stream_available(self) -> bool:
        """Whether the server's streaming API answers its health check."""
        try:
            return bool(await asyncio.to_thread(self.client.stream_healthy))
        except Exception:  # noqa: BLE001 - any failure means: poll instead
            return False

    def start_stream(self, listener: Any) -> None:
        """Open the user stream in Mastodon.py's thread, reconnecting by itself after a loss."""
        self._stream = self.client.stream_user(listener, run_async=True, reconnect_async=True,
                                               reconnect_async_wait_sec=5)

    def close(self) -> None:
        """Close the user stream, if open."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
