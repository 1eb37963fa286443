"""intake_sms_voice entry point: Twilio webhooks for SMS/MMS, WhatsApp, voice (IVR, recordings,
transcriptions) and message status callbacks.

Produces on `intake.messages` (published with acks=all before the webhook answers): `intake.message_received`,
`intake.opt_out_received`, `intake.opt_in_received` and `intake.message_status_received` (for the
notifier). Consumes nothing; owns nothing durable (conversation state travels in
Twilio's conversation cookie and in our own signed action URLs). Every request must carry a valid
``X-Twilio-Signature`` for the public URL Twilio used (see `adapters/signature.py`), else 403.

Webhooks (POST, form-encoded, as configured in Twilio):
  /twilio/sms (messaging, SMS/MMS and WhatsApp), /twilio/whatsapp (a WhatsApp sender),
  /twilio/status (message status callback), /twilio/voice (incoming call), then the IVR's own
  /twilio/voice/{language,problem,place,recorded,recording,transcription}.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlencode

from fastapi import Depends, HTTPException, Request, Response

from services.intake_sms_voice.adapters import twiml
from services.intake_sms_voice.adapters.case_api import CaseApi, HttpCaseApi
from services.intake_sms_voice.adapters.publisher import TOPIC, KafkaPublisher, Publisher
from services.intake_sms_voice.adapters.signature import (
    SIGNATURE_HEADER,
    FormParams,
    PublicUrlPolicy,
    parse_form,
    signature_valid,
)
from services.intake_sms_voice.config import TwilioSettings
from services.intake_sms_voice.domain import conversation, ivr
from services.intake_sms_voice.domain.contacts import sender_of
from services.intake_sms_voice.domain.inbound import InvalidWebhook, parse_inbound, parse_status
from services.intake_sms_voice.service_layer import handlers
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.service import Runtime
from shared.settings import Settings

SERVICE = handlers.SERVICE
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Webhook:
    """A request that passed the signature check: its form fields (first value each), the public root
    URL for our own action URLs, and its cookies."""

    params: dict[str, str]
    root: str
    cookies: dict[str, str]
    query: dict[str, str]


def _menu(jur: Jurisdiction) -> tuple[ivr.MenuItem, ...]:
    """Keypad choices: the English service name, and the first French keyword (the names are English)."""

    def labels(service: Any) -> dict[str, str]:
        out = {"en": service.service_name}
        french = service.keywords.get("fr") or ()
        if french:
            out["fr"] = french[0].text
        return out
    return ivr.build_menu((s.service_code, labels(s)) for s in jur.services)


def create_app(settings: Settings | None = None, *, twilio: TwilioSettings | None = None,
               publisher: Publisher | None = None, case_api: CaseApi | None = None,
               jurisdiction: Jurisdiction | None = None, clock: Callable[[], datetime] | None = None) -> Any:
    """Build the service. Real dependencies by default; tests pass a fake `publisher` and `case_api`
    (then nothing needs Kafka or the case service) and their own `twilio` settings and `clock`."""
    s = settings or Settings()
    tw = twilio or TwilioSettings()
    rt = Runtime(s, SERVICE, title="omni311 SMS and voice intake (Twilio)")
    if clock is not None:
        rt.clock = clock
    jur = jurisdiction or load_jurisdiction(s.jurisdiction)
    token = tw.auth_token.get_secret_value() if tw.auth_token else ""
    policy = PublicUrlPolicy(base_url=tw.public_base_url, trusted_proxies=tuple(tw.trusted_proxies))
    locales = tuple(x for x in jur.locales if x in ivr.LANG_CODES) or ("en",)
    config = handlers.Config(
        program_name=tw.program_name, keyword_replies=tw.keyword_replies,
        conversation_secret=("omni311-conversation:" + token).encode(),
        conversation_window_s=tw.conversation_window_s, locales=locales, menu=_menu(jur),
    )
    http_case_api = HttpCaseApi(s.case_api_url) if case_api is None else None
    deps = handlers.Deps(publisher=publisher or KafkaPublisher(rt.broker, s.topic(TOPIC)),
                         case_api=case_api or http_case_api, config=config)  # type: ignore[arg-type]

    async def start() -> None:
        if not token:
            rt.log.error("twilio_auth_token_missing", detail="OMNI311_TWILIO_AUTH_TOKEN is not set: every webhook "
                                                             "is refused with 403")
        if http_case_api is not None:
            await http_case_api.start()

    async def stop() -> None:
        if http_case_api is not None:
            await http_case_api.stop()

    rt.on_start.append(start)
    rt.on_stop.append(stop)
    app = rt.app

    async def verified(request: Request) -> Webhook:
        """The signature check every webhook route depends on: 403 (and a log line) when it fails."""
        body = await request.body()
        if len(body) > tw.max_body_bytes:
            raise HTTPException(413, "request body too large")
        peer = request.client.host if request.client else None
        headers = {k.lower(): v for k, v in request.headers.items()}
        url = policy.public_url(
            scheme=request.url.scheme, host=headers.get("host", request.url.netloc),
            raw_path=request.scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
            query=request.scope.get("query_string", b"").decode("latin-1"), headers=headers, peer=peer)
        form: FormParams | None = None
        reason = None
        if headers.get("content-type", "").split(";")[0].strip().lower() == FORM:
            try:
                form = parse_form(body)
            except UnicodeDecodeError:
                reason = "body is not UTF-8"
        if reason is None and not token:
            reason = "no auth token configured"
        if reason is None and not headers.get(SIGNATURE_HEADER):
            reason = "missing signature"
        if reason is None and not signature_valid(token, url, signature=headers.get(SIGNATURE_HEADER), form=form,
                                                  body=body):
            reason = "invalid signature"
        if reason is not None:
            # Never the URL's query or the body: they hold phone numbers and messages.
            rt.log.warning("twilio_signature_rejected", reason=reason, path=request.url.path,
                           peer=peer, trusted_proxy=policy.trusts(peer))
            raise HTTPException(403, "Twilio request validation failed")
        root = policy.public_root(scheme=request.url.scheme, host=headers.get("host", request.url.netloc),
                                  headers=headers, peer=peer)
        return Webhook(params=form.first() if form else {}, root=root, cookies=dict(request.cookies),
                       query=dict(request.query_params))

    def xml(content: str, status: int = 200) -> Response:
        return Response(content=content, status_code=status, media_type=twiml.MEDIA_TYPE)

    @app.exception_handler(InvalidWebhook)
    async def invalid_webhook(_request: Request, exc: InvalidWebhook) -> Response:
        return Response(content=str(exc), status_code=400, media_type="text/plain")

    class PublishFailed(Exception):
        """Kafka did not take the event: answer 503 so that Twilio's retry (connection overrides
        ``#rc=..&rp=5xx``) brings the same sid back; idempotent event ids make the retry safe."""

    @app.exception_handler(PublishFailed)
    async def publish_failed(_request: Request, _exc: PublishFailed) -> Response:
        return Response(content="intake is unavailable for a moment", status_code=503,
                        headers={"Retry-After": "5"}, media_type="text/plain")

    async def guarded(coro: Any) -> Any:
        try:
            return await coro
        except Exception as exc:  # noqa: BLE001 - any publish failure is an outage for Twilio
            rt.log.error("intake_publish_failed", error=repr(exc))
            raise PublishFailed from exc

    async def text(hook: Webhook, forced: Literal["sms", "whatsapp"] | None) -> Response:
        msg = parse_inbound(hook.params, forced_channel=forced, default_region=tw.default_region)
        now = rt.clock()
        reply = await guarded(handlers.receive_text(msg, pending_cookie=hook.cookies.get(conversation.COOKIE),
                                                    deps=deps, now=now))
        rt.handled.labels(f"twilio.{reply.outcome}").inc()
        rt.log.info("text_received", channel=msg.channel, outcome=reply.outcome, media=len(msg.media))
        response = xml(twiml.messaging(reply.texts))
        if reply.pending:
            response.set_cookie(conversation.COOKIE, reply.pending, max_age=int(tw.conversation_window_s),
                                path="/", httponly=True)
        elif reply.clear_pending and conversation.COOKIE in hook.cookies:
            response.delete_cookie(conversation.COOKIE, path="/")
        return response

    @app.post("/twilio/sms")
    async def sms(hook: Webhook = Depends(verified)) -> Response:
        return await text(hook, None)

    @app.post("/twilio/whatsapp")
    async def whatsapp(hook: Webhook = Depends(verified)) -> Response:
        return await text(hook, "whatsapp")

    @app.post("/twilio/status")
    async def status(hook: Webhook = Depends(verified)) -> Response:
        report = parse_status(hook.params, default_region=tw.default_region)
        if report is None:
            rt.log.info("status_ignored", reason="no message sid or status")
            return Response(status_code=204)
        ids = await guarded(handlers.receive_status(report, deps=deps, now=rt.clock()))
        rt.log.info("status_received", status=report.status, error_code=report.error_code, events=len(ids))
        return Response(status_code=204)

    # --- voice -------------------------------------------------------------------------------------------

    def action(hook: Webhook, step: str, state: ivr.CallState | None = None) -> str:
        query = urlencode(state.to_query(), quote_via=quote) if state else ""
        return f"{hook.root}/twilio/voice/{step}" + (f"?{query}" if query else "")

    def call_state(hook: Webhook) -> ivr.CallState:
        return ivr.CallState.from_query(hook.query, locales)

    def call_sid(hook: Webhook) -> str:
        sid = (hook.params.get("CallSid") or "").strip()
        if not sid:
            raise InvalidWebhook("field CallSid is required")
        return sid

    @app.post("/twilio/voice")
    async def voice(hook: Webhook = Depends(verified)) -> Response:
        call_sid(hook)
        if len(locales) == 1:
            state = ivr.CallState(lang=locales[0])  # type: ignore[arg-type]
            return xml(twiml.problem_prompt(state=state, menu=config.menu, action=action(hook, "problem", state)))
        return xml(twiml.language_menu(locales=locales, program=config.program_name,
                                       action=action(hook, "language")))

    @app.post("/twilio/voice/language")
    async def voice_language(hook: Webhook = Depends(verified)) -> Response:
        call_sid(hook)
        lang = ivr.choose_language(hook.params.get("Digits"), hook.params.get("SpeechResult"), locales)
        state = ivr.CallState(lang=lang)
        return xml(twiml.problem_prompt(state=state, menu=config.menu, action=action(hook, "problem", state)))

    @app.post("/twilio/voice/problem")
    async def voice_problem(hook: Webhook = Depends(verified)) -> Response:
        call_sid(hook)
        state = ivr.with_problem(call_state(hook), digits=hook.params.get("Digits"),
                                 speech=hook.params.get("SpeechResult"), menu=config.menu)
        return xml(twiml.place_prompt(state=state, action=action(hook, "place", state)))

    @app.post("/twilio/voice/place")
    async def voice_place(hook: Webhook = Depends(verified)) -> Response:
        call_sid(hook)
        state = ivr.with_place(call_state(hook), digits=hook.params.get("Digits"),
                               speech=hook.params.get("SpeechResult"))
        return xml(twiml.record_prompt(state=state, action=action(hook, "recorded", state),
                                       transcribe_callback=action(hook, "transcription", state),
                                       recording_callback=action(hook, "recording", state)))

    async def end_of_recording(hook: Webhook) -> Any:
        p = hook.params
        try:
            duration = int(p["RecordingDuration"]) if p.get("RecordingDuration") else None
        except ValueError:
            duration = None
        return await guarded(handlers.call_ended(
            call_sid=call_sid(hook), caller=sender_of(p.get("From") or p.get("Caller") or "",
                                                      default_region=tw.default_region),
            state=call_state(hook), recording_url=(p.get("RecordingUrl") or "").strip() or None,
            recording_sid=(p.get("RecordingSid") or "").strip() or None, duration_s=duration, deps=deps,
            now=rt.clock()))

    @app.post("/twilio/voice/recorded")
    async def voice_recorded(hook: Webhook = Depends(verified)) -> Response:
        event_id = await end_of_recording(hook)
        rt.log.info("call_report", published=event_id is not None)
        return xml(twiml.goodbye(state=call_state(hook), received=event_id is not None))

    @app.post("/twilio/voice/recording")
    async def voice_recording_status(hook: Webhook = Depends(verified)) -> Response:
        # The recording status callback repeats the Record action's report (same event id): a caller who
        # hangs up during the recording is not lost when Twilio skips the action.
        if (hook.params.get("RecordingStatus") or "").lower() == "completed":
            await end_of_recording(hook)
        return Response(status_code=204)

    @app.post("/twilio/voice/transcription")
    async def voice_transcription(hook: Webhook = Depends(verified)) -> Response:
        p = hook.params
        recording_sid = (p.get("RecordingSid") or "").strip()
        if not recording_sid:
            raise InvalidWebhook("field RecordingSid is required")
        await guarded(handlers.call_transcribed(
            call_sid=call_sid(hook), recording_sid=recording_sid,
            caller=sender_of(p.get("From") or p.get("Caller") or "", default_region=tw.default_region),
            state=call_state(hook), transcript=p.get("TranscriptionText"), status=p.get("TranscriptionStatus"),
            recording_url=(p.get("RecordingUrl") or "").strip() or None, deps=deps, now=rt.clock()))
        return Response(status_code=204)

    return app
