"""intake_social entry point: Meta webhooks (Messenger, Instagram, WhatsApp Cloud) and Mastodon mentions.

Produces `intake.message_received` (and `intake.delivery_status_received`) on `intake.messages`: webhook messages are published with acks=all
before the webhook is answered; Mastodon mentions go through the outbox together with the poll cursor,
the only state this service owns (schema `intake_social`). Consumes nothing from Kafka.
Endpoints: `GET /webhooks/meta` (subscription handshake), `POST /webhooks/meta` (signed deliveries).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import Counter

from services.intake_social.config import SocialSettings
from services.intake_social.domain.meta import MetaAccounts
from services.intake_social.domain.outcomes import Inbound, Outcome, Rejected, StatusReported
from services.intake_social.service_layer.mentions import MentionDeps, MentionWatcher, poll_mentions
from services.intake_social.service_layer.webhooks import (
    Publish,
    SignatureRejected,
    WebhookDeps,
    receive_delivery,
    verify_challenge,
)
from shared.kafka import TRANSIENT_ERRORS
from shared.service import Runtime
from shared.settings import Settings

SERVICE = "intake_social"
WEBHOOK_PATH = "/webhooks/meta"


def create_app(settings: Settings | None = None, *, social: SocialSettings | None = None,
               publish: Publish | None = None, mastodon: Any = None) -> Any:
    """Build intake_social (FastAPI app; Kafka and PostgreSQL live in its lifespan).

    `publish` replaces the Kafka publisher of webhook messages and `mastodon` the Mastodon.py source
    (tests); both default to the real ones.
    """
    s = settings or Settings()
    cfg = social or SocialSettings()
    rt = Runtime(s, SERVICE, schema_package="services.intake_social", title="omni311 social intake")
    outcomes = Counter("omni311_social_outcomes", "Items of social deliveries by outcome",
                       ["source", "channel", "kind", "reason"], registry=rt.metrics)
    statuses = Counter("omni311_social_delivery_statuses", "Delivery statuses reported by the platforms",
                       ["channel", "status"], registry=rt.metrics)
    refused = Counter("omni311_social_signature_refused", "Webhook deliveries refused for their signature",
                      registry=rt.metrics)
    polls = Counter("omni311_social_mastodon_polls", "Mastodon mention polls by result", ["result"],
                    registry=rt.metrics)

    def reporter(source: str) -> Any:
        def report(o: Outcome) -> None:
            channel = getattr(o, "channel", None) or (o.message.channel if isinstance(o, Inbound) else "unknown")
            outcomes.labels(source, channel, o.kind, o.reason).inc()
            if isinstance(o, Inbound):
                rt.handled.labels(o.message.event_type).inc()
                # Webhook messages are on Kafka by now; mentions are in the outbox, relayed right after.
                rt.log.info("intake_published" if source == "meta" else "intake_queued", channel=channel,
                            event_id=str(o.event_id),
                            has_point=o.message.lat is not None, media=len(o.message.media_url))
                for note in o.notes:
                    rt.log.warning("intake_note", channel=channel, event_id=str(o.event_id), note=note)
            elif isinstance(o, StatusReported):
                st = o.status
                statuses.labels(channel, st.status).inc()
                # Published as `intake.delivery_status_received` (the notifier records it); counted here.
                rt.log.info("delivery_status", channel=channel, status=st.status,
                            provider_message_id=st.provider_message_id,
                            errors=[f"{e.code} {e.title}" for e in st.errors])
            elif isinstance(o, Rejected):
                rt.log.warning("item_rejected", source=source, channel=channel, reason=o.reason, where=o.where,
                               detail=o.detail)
            else:
                rt.log.info("item_not_a_message", source=source, channel=channel, kind=o.kind, reason=o.reason)
        return report

    if publish is None:
        from services.intake_social.adapters.publisher import kafka_publisher

        publish = kafka_publisher(rt.broker, s)
    secret = cfg.meta_app_secret.get_secret_value().encode() if cfg.meta_app_secret else None
    webhook = WebhookDeps(
        app_secret=secret or None,
        accounts=MetaAccounts(page_ids=frozenset(cfg.meta_page_ids),
                              whatsapp_phone_number_ids=frozenset(cfg.meta_whatsapp_phone_number_ids),
                              graph_url=cfg.meta_graph_url),
        publish=publish, report=reporter("meta"), producer=SERVICE,
    )
    verify_token = cfg.meta_verify_token.get_secret_value() if cfg.meta_verify_token else None

    app = rt.app

    @app.get(WEBHOOK_PATH)
    async def meta_subscription(request: Request) -> Response:
        q = request.query_params
        challenge = verify_challenge(q.get("hub.mode"), q.get("hub.verify_token"), q.get("hub.challenge"),
                                     verify_token)
        if challenge is None:
            rt.log.warning("meta_verification_refused", mode=q.get("hub.mode"))
            return PlainTextResponse("verification failed", status_code=403)
        return PlainTextResponse(challenge)

    @app.post(WEBHOOK_PATH)
    async def meta_delivery(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > cfg.meta_max_body_bytes:
            return JSONResponse({"error": "body too large"}, status_code=413)
        body = await request.body()
        if len(body) > cfg.meta_max_body_bytes:
            return JSONResponse({"error": "body too large"}, status_code=413)
        try:
            summary = await receive_delivery(body, request.headers.get("x-hub-signature-256"), webhook, rt.clock())
        except SignatureRejected:
            refused.inc()
            rt.log.warning("meta_signature_refused", bytes=len(body),
                           has_header=request.headers.get("x-hub-signature-256") is not None)
            return JSONResponse({"error": "invalid X-Hub-Signature-256"}, status_code=403)
        except (KafkaError, *TRANSIENT_ERRORS) as exc:
            # Not acknowledged by Kafka: answer 503 so that Meta sends the batch again (event ids are
            # derived from message ids, so what did get through is not duplicated).
            rt.log.error("publish_failed", error=repr(exc))
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        return JSONResponse({"received": summary.counts})

    if cfg.mastodon_enabled() or mastodon is not None:
        _add_mastodon(rt, cfg, mastodon, reporter("mastodon"), polls)

    return app


def _add_mastodon(rt: Runtime, cfg: SocialSettings, source: Any, report: Any, polls: Counter) -> None:
    """Run the mention watcher for the service's lifetime; open the stream when the server has one."""
    tasks: list[asyncio.Task[None]] = []
    holder: dict[str, Any] = {}

    async def start() -> None:
        from services.intake_social.adapters.cursors import PgCursorStore

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
                polls.labels("error").inc()
                raise
            polls.labels("ok").inc()
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
