"""The Mastodon mention watcher, for the service's lifetime: polls the city's mentions since the
persisted cursor (`service_layer/mentions.py`), and opens the user stream as a wake-up when the server
has a healthy one; the mentions go through the outbox with the cursor."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from services.intake_social.adapters.cursors import PgCursorStore
from services.intake_social.config import SERVICE, SocialSettings
from services.intake_social.entrypoints.reporting import Reporting
from services.intake_social.service_layer.mentions import MentionDeps, MentionWatcher, poll_mentions
from shared.service import Runtime


def watch(rt: Runtime, cfg: SocialSettings, source: Any, reporting: Reporting) -> None:
    """Run the mention watcher between the service's start and stop. `source` is the Mastodon source
    (tests); None builds the Mastodon.py one from `cfg` at start."""
    tasks: list[asyncio.Task[None]] = []
    holder: dict[str, Any] = {}
    report = reporting.reporter("mastodon")

    async def start() -> None:
        api = source
        if api is None:
            from services.intake_social.adapters.mastodon_api import MastodonApi

            assert cfg.mastodon_api_base_url and cfg.mastodon_access_token
            api = MastodonApi(cfg.mastodon_api_base_url, cfg.mastodon_access_token.get_secret_value(),
                              request_timeout_s=cfg.mastodon_request_timeout_s)
        holder["api"] = api
        store = PgCursorStore(rt.db, SERVICE)
        identity: dict[str, tuple[str, str]] = {}

        async def poll() -> int:
            try:
                if "me" not in identity:
                    identity["me"] = await api.whoami()
                account_id, acct = identity["me"]
                deps = MentionDeps(source=api, store=store,
                                   cursor_key=f"mastodon:{api.instance_host}:{account_id}", own_acct=acct,
                                   own_account_id=account_id, instance_host=api.instance_host, report=report,
                                   producer=SERVICE, backfill=timedelta(hours=cfg.mastodon_backfill_hours))
                n = await poll_mentions(deps, rt.clock())
            except Exception:
                reporting.polls.labels("error").inc()
                raise
            reporting.polls.labels("ok").inc()
            return n

        watcher = MentionWatcher(poll, interval_s=cfg.mastodon_poll_interval_s,
                                 on_error=lambda exc, wait: rt.log.warning("mastodon_poll_failed", error=repr(exc),
                                                                           retry_in_s=wait))
        holder["watcher"] = watcher
        tasks.append(asyncio.create_task(watcher.run(), name="mastodon-mentions"))
        if cfg.mastodon_streaming:
            tasks.append(asyncio.create_task(_open_stream(rt, api, watcher, cfg), name="mastodon-stream"))

    async def stop() -> None:
        if "watcher" in holder:
            holder["watcher"].stop()
        api = holder.get("api")
        if api is not None and hasattr(api, "close"):
            api.close()
        for task in tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=10)

    rt.on_start.append(start)
    rt.on_stop.append(stop)


async def _open_stream(rt: Runtime, api: Any, watcher: MentionWatcher, cfg: SocialSettings) -> None:
    """Use the user stream as a wake-up when the server's streaming API is healthy; else keep polling."""
    if not await api.stream_available():
        rt.log.info("mastodon_polling", interval_s=cfg.mastodon_poll_interval_s)
        return
    from services.intake_social.adapters.mastodon_api import mention_listener

    loop = asyncio.get_running_loop()
    listener = mention_listener(on_mention=lambda _n: loop.call_soon_threadsafe(watcher.nudge),
                               on_lost=lambda err: rt.log.warning("mastodon_stream_lost", error=repr(err)))
    # Mastodon.py looks up the streaming server (blocking HTTP) before its thread takes over.
    await asyncio.to_thread(api.start_stream, listener)
    watcher.interval_s = cfg.mastodon_stream_poll_interval_s
    watcher.nudge()  # read what arrived before the stream opened
    rt.log.info("mastodon_streaming", safety_poll_s=cfg.mastodon_stream_poll_interval_s)
