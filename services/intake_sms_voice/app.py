"""intake_sms_voice bootstrap: Twilio webhooks for SMS/MMS, WhatsApp, voice (IVR, recordings,
transcriptions) and message status callbacks.

Produces on `intake.messages` (published with acks=all before the webhook answers, through
`shared.intake`): `intake.message_received`, `intake.opt_out_received`, `intake.opt_in_received` and
`intake.message_status_received` (for the notifier). Consumes nothing. Owns each number's opt-out state
(schema `intake_sms_voice`, table `opt_outs`); conversation state travels in Twilio's conversation cookie
and in our own signed action URLs. Looks written places up with the jurisdiction's geocoder
(`shared.geocode`). Reads cases through the case service's API (`STATUS <case number>`, whether a
follow-up's case is still open). Reads shared contact cards from Twilio's media URLs. Routes:
`entrypoints/messaging.py`, `entrypoints/voice.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.intake_sms_voice.adapters.opt_outs import PgOptOuts
from services.intake_sms_voice.adapters.twilio_media import TwilioMedia
from services.intake_sms_voice.config import SERVICE, TwilioSettings
from services.intake_sms_voice.entrypoints import http
from services.intake_sms_voice.service_layer import handlers
from shared.geocode import Geocoder, geocoder_for
from shared.intake import CaseApi, CaseApiClient, IntakePublisher, KafkaIntakePublisher
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.service import Runtime
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, twilio: TwilioSettings | None = None,
               publisher: IntakePublisher | None = None, case_api: CaseApi | None = None,
               jurisdiction: Jurisdiction | None = None, clock: Callable[[], datetime] | None = None,
               geocoder: Geocoder | None = None, opt_outs: handlers.OptOuts | None = None,
               media: handlers.MediaSource | None = None) -> Any:
    """Build the service. Real dependencies by default; tests pass a fake `publisher` and `case_api`
    (then nothing needs Kafka or the case service), their own `twilio` settings and `clock`, a fake
    `geocoder` (default: the jurisdiction's, `shared.geocode.geocoder_for`, its gazetteer built here, once
    per jurisdiction version), a fake `opt_outs` store (then nothing needs PostgreSQL; default: the
    service's schema, migrated at start) and a fake `media` reader (default: Twilio's media URLs)."""
    s = settings or Settings()
    tw = twilio or TwilioSettings()
    rt = Runtime(s, SERVICE, schema_package="services.intake_sms_voice" if opt_outs is None else None,
                 title="omni311 SMS and voice intake (Twilio)")
    if clock is not None:
        rt.clock = clock
    client = CaseApiClient(s.case_api_url) if case_api is None else None
    if client is not None:
        rt.on_start.append(client.start)
        rt.on_stop.append(client.stop)
    jur = jurisdiction or load_jurisdiction(s.jurisdiction)
    config = handlers.configure(tw, jur)
    deps = handlers.Deps(publisher=publisher or KafkaIntakePublisher(rt.broker, s.topic),
                         case_api=case_api or client, config=config,  # type: ignore[arg-type]
                         geocoder=geocoder or geocoder_for(jur),
                         opt_outs=opt_outs or PgOptOuts(lambda: rt.db), media=media or _media(rt, tw))
    if (close := getattr(deps.geocoder, "aclose", None)) is not None:  # a server geocoder's HTTP client
        rt.on_stop.append(close)
    http.mount(rt, deps, tw)
    return rt.app


def _media(rt: Runtime, tw: TwilioSettings) -> TwilioMedia:
    """The reader of Twilio's media URLs, opened and closed with the service."""
    reader = TwilioMedia(tw.auth_token.get_secret_value() if tw.auth_token else "")
    rt.on_start.append(reader.start)
    rt.on_stop.append(reader.stop)
    return reader
