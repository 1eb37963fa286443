"""Twilio messaging webhooks: `POST /twilio/sms` (SMS/MMS, and WhatsApp by its `whatsapp:` prefix),
`POST /twilio/whatsapp` (a WhatsApp sender) and `POST /twilio/status` (outbound message status).

Each publishes on `intake.messages` before it answers (TwiML for texts, 204 for statuses); the
conversation cookie carries the conversation (its report, language and any pending question) from one text
to the next (what to do with it is the handler's reply: `TextReply.cookie`)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from services.intake_sms_voice.adapters import twiml
from services.intake_sms_voice.domain import conversation
from services.intake_sms_voice.domain.inbound import parse_inbound, parse_status
from services.intake_sms_voice.entrypoints.twilio import NO_CONTENT, TWIML, Ctx, Hook, Twilio, Webhook, guarded, xml
from services.intake_sms_voice.service_layer import handlers

router = APIRouter(prefix="/twilio")


async def _text(tw: Twilio, hook: Webhook, forced: Literal["sms", "whatsapp"] | None) -> Response:
    """Parse an inbound text, hand it to `handlers.receive_text`, and render its reply: TwiML, and the
    cookie set or deleted as the reply says."""
    msg = parse_inbound(hook.params, forced_channel=forced, default_region=tw.settings.default_region,
                        contains=tw.deps.config.contains)
    reply = await guarded(tw, handlers.receive_text(msg, pending_cookie=hook.cookies.get(conversation.COOKIE),
                                                    deps=tw.deps, now=tw.rt.clock()))
    tw.rt.handled.labels(f"twilio.{reply.outcome}").inc()
    tw.rt.log.info("text_received", channel=msg.channel, outcome=reply.outcome, media=len(msg.media))
    response = xml(twiml.messaging(reply.texts))
    cookie = reply.cookie
    if cookie is not None and cookie.value is not None:
        response.set_cookie(cookie.name, cookie.value, max_age=cookie.max_age_s, path="/", httponly=True)
    elif cookie is not None:
        response.delete_cookie(cookie.name, path="/")
    return response


@router.post("/sms", **TWIML)
async def sms(hook: Hook, tw: Ctx) -> Response:
    """An inbound SMS/MMS (or WhatsApp, by its ``whatsapp:`` From prefix), signed by Twilio: TwiML
    ``<Response>`` with the replies (none, one or more ``<Message>``s), and the conversation cookie
    set or deleted; 400 for a malformed webhook, 403 for a bad signature, 503 when Kafka did not take it."""
    return await _text(tw, hook, None)


@router.post("/whatsapp", **TWIML)
async def whatsapp(hook: Hook, tw: Ctx) -> Response:
    """An inbound WhatsApp message (a WhatsApp sender's webhook): answered as `/twilio/sms`."""
    return await _text(tw, hook, "whatsapp")


@router.post("/status", **NO_CONTENT)
async def status(hook: Hook, tw: Ctx) -> Response:
    """An outbound message's status callback (queued, sent, delivered, undelivered, failed...): 204 once
    the status (and, for error 21610, the recipient's opt-out) is on Kafka, or at once when it names no
    message sid or status; 503 when Kafka did not take it."""
    report = parse_status(hook.params, default_region=tw.settings.default_region)
    if report is None:
        tw.rt.log.info("status_ignored", reason="no message sid or status")
        return Response(status_code=204)
    ids = await guarded(tw, handlers.receive_status(report, deps=tw.deps, now=tw.rt.clock()))
    tw.rt.log.info("status_received", status=report.status, error_code=report.error_code, events=len(ids))
    return Response(status_code=204)
