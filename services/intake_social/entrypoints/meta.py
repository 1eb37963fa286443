"""Meta's webhook (Messenger, Instagram, WhatsApp Cloud): `GET /webhooks/meta` (the subscription
handshake) and `POST /webhooks/meta` (signed deliveries: 403 for a bad signature, 413 for an oversized
body, 503 when Kafka did not acknowledge or the database did not answer, so that Meta sends the batch
again); and, for supervisors and administrators (a staff bearer JWT, `shared.auth`: 401 without a valid
one, 403 for another role), `GET /problems`: the messages of kinds we cannot read, kept raw (they hold
residents' ids and words, so the route is closed to anyone else)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict

from services.intake_social.adapters.conversations import STORE_ERRORS
from services.intake_social.config import SERVICE, SocialSettings
from services.intake_social.domain.meta import MetaAccounts
from services.intake_social.entrypoints.reporting import Reporting
from services.intake_social.service_layer.webhooks import (
    ConversationStore,
    MediaKeeper,
    Place,
    Publish,
    SignatureRejected,
    UnsupportedStore,
    WebhookDeps,
    receive_delivery,
    verify_challenge,
)
from shared.auth import Role, require
from shared.intake import CaseApi
from shared.kafka import TRANSIENT_ERRORS
from shared.media import MediaStore, mount_media
from shared.service import Runtime

WEBHOOK_PATH = "/webhooks/meta"
router = APIRouter()
ADMIN_ROLES = (Role.SUPERVISOR, Role.ADMINISTRATOR)
"""Who may read the kept raw messages (docs/staff-work.md, "Roles and tokens")."""
staff_only = Depends(require(*ADMIN_ROLES))


@dataclass(frozen=True)
class Stores:
    """Where the webhook keeps state and asks about cases: the conversations, the unsupported messages
    kept raw, the case API, the jurisdiction's `place` (location check, service keywords) and the media
    keeper (a message's files downloaded and kept by us)."""

    conversations: ConversationStore
    unsupported: UnsupportedStore
    case_api: CaseApi
    place: Place
    media: MediaKeeper | None = None


@dataclass(frozen=True)
class Meta:
    """What the routes use, kept on `app.state.meta`: the runtime (clock, log), the handler's
    dependencies, the subscription's verify token (None refuses every handshake), the largest body
    accepted (bytes) and the reporting."""

    rt: Runtime
    webhook: WebhookDeps
    verify_token: str | None
    max_body_bytes: int
    reporting: Reporting


def mount(rt: Runtime, cfg: SocialSettings, publish: Publish, reporting: Reporting, stores: Stores) -> None:
    """Serve the webhook on `rt.app`, publishing with `publish` and threading with `stores`. Without an app
    secret every delivery is refused (403)."""
    secret = cfg.meta_app_secret.get_secret_value().encode() if cfg.meta_app_secret else None
    webhook = WebhookDeps(
        app_secret=secret or None,
        accounts=MetaAccounts(page_ids=frozenset(cfg.meta_page_ids),
                              whatsapp_phone_number_ids=frozenset(cfg.meta_whatsapp_phone_number_ids),
                              graph_url=cfg.meta_graph_url),
        publish=publish, report=reporting.reporter("meta"), conversations=stores.conversations,
        unsupported=stores.unsupported, case_api=stores.case_api, place=stores.place,
        window_s=cfg.conversation_window_s, warn=rt.log.warning, media=stores.media, producer=SERVICE,
    )
    verify_token = cfg.meta_verify_token.get_secret_value() if cfg.meta_verify_token else None
    rt.app.state.meta = Meta(rt=rt, webhook=webhook, verify_token=verify_token,
                             max_body_bytes=cfg.meta_max_body_bytes, reporting=reporting)
    rt.app.include_router(router)
    mount_media(rt.app, lambda _request: MediaStore(rt.db, SERVICE))


def meta(request: Request) -> Meta:
    """The webhook's wiring (a FastAPI dependency)."""
    return request.app.state.meta


Ctx = Annotated[Meta, Depends(meta)]


class DeliveryReceived(BaseModel):
    """``POST /webhooks/meta``: how many of the delivery's items had each outcome."""

    received: dict[str, int]


class ProblemMessage(BaseModel):
    """``GET /problems``: one message of a kind we cannot read as a report."""

    model_config = ConfigDict(extra="allow")

    id: int
    channel: str
    message_id: str | None
    kind: str
    received_at: str
    raw: dict[str, Any] | None
    erased_at: str | None


@router.get(WEBHOOK_PATH, response_class=PlainTextResponse, responses={
    200: {"description": "`hub.challenge`, echoed", "content": {"text/plain": {"schema": {"type": "string"}}}},
    403: {"description": "Not subscribing, or not our verify token"}})
async def meta_subscription(request: Request, m: Ctx) -> Response:
    """Meta's subscription handshake (Meta Webhooks, "Verification Requests"): `hub.challenge` echoed as
    text/plain when `hub.mode` is ``subscribe`` and `hub.verify_token` is ours, else 403."""
    q = request.query_params
    challenge = verify_challenge(q.get("hub.mode"), q.get("hub.verify_token"), q.get("hub.challenge"),
                                 m.verify_token)
    if challenge is None:
        m.rt.log.warning("meta_verification_refused", mode=q.get("hub.mode"))
        return PlainTextResponse("verification failed", status_code=403)
    return PlainTextResponse(challenge)


@router.post(WEBHOOK_PATH, response_model=None, responses={
    200: {"model": DeliveryReceived, "description": "Every message of the batch is on Kafka"},
    403: {"description": "A missing or bad `X-Hub-Signature-256`"}, 413: {"description": "The body is too large"},
    503: {"description": "Kafka did not acknowledge: Meta sends the batch again"}})
async def meta_delivery(request: Request, m: Ctx) -> Response:
    """One signed delivery (Meta Webhooks, "Event Notifications"): `{"received": {kind: count}}` once
    every message of the batch is on Kafka; 413 for a body over `meta_max_body_bytes` (by its
    Content-Length or its bytes), 403 for a missing or bad `X-Hub-Signature-256` (nothing read), 503
    when Kafka did not acknowledge (Meta sends the batch again)."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > m.max_body_bytes:
        return JSONResponse({"error": "body too large"}, status_code=413)
    body = await request.body()
    if len(body) > m.max_body_bytes:
        return JSONResponse({"error": "body too large"}, status_code=413)
    try:
        summary = await receive_delivery(body, request.headers.get("x-hub-signature-256"), m.webhook, m.rt.clock())
    except SignatureRejected:
        m.reporting.refused.inc()
        m.rt.log.warning("meta_signature_refused", bytes=len(body),
                         has_header=request.headers.get("x-hub-signature-256") is not None)
        return JSONResponse({"error": "invalid X-Hub-Signature-256"}, status_code=403)
    except (KafkaError, *STORE_ERRORS, *TRANSIENT_ERRORS) as exc:
        # Not acknowledged by Kafka, or the conversations/kept messages not written: answer 503 so that
        # Meta sends the batch again (event ids are derived from message ids, so what did get through is
        # not duplicated).
        m.rt.log.error("publish_failed", error=repr(exc))
        return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
    return JSONResponse({"received": summary.counts})


@router.get("/problems", dependencies=[staff_only],
            responses={200: {"model": list[ProblemMessage], "description": "Unreadable messages, newest first"}})
async def problems(m: Ctx, limit: int = Query(100, ge=1, le=1000)) -> list[dict[str, Any]]:
    """Staff: the messages of kinds we cannot read as reports (a WhatsApp ``unsupported``, ``order`` or
    ``system`` message, a poll, a reaction to nothing, an unknown attachment type...), newest first (1-1000
    rows): id, channel, message_id, kind, received_at, raw (the item as Meta delivered it; null once
    erased under the retention policy) and erased_at. Each was answered with a request for text."""
    return await m.webhook.unsupported.recent(limit)
