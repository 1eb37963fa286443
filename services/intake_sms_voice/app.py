"""intake_sms_voice bootstrap: Twilio webhooks for SMS/MMS, WhatsApp, voice (IVR, recordings,
transcriptions) and message status callbacks.

Produces on `intake.messages` (published with acks=all before the webhook answers, through
`shared.intake`): `intake.message_received`, `intake.opt_out_received`, `intake.opt_in_received` and
`intake.message_status_received` (for the notifier). Consumes nothing; owns nothing durable (conversation
state travels in Twilio's conversation cookie and in our own signed action URLs). Looks written places up
with the jurisdiction's geocoder (`shared.geocode`). Reads cases through the
case service's API (`STATUS <case number>`). Routes: `entrypoints/messaging.py`, `entrypoints/voice.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

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
               geocoder: Geocoder | None = None) -> Any:
    """Build the service. Real dependencies by default; tests pass a fake `publisher` and `case_api`
    (then nothing needs Kafka or the case service), their own `twilio` settings and `clock`, and a fake
    `geocoder` (default: the jurisdiction's, `shared.geocode.geocoder_for`, its gazetteer built here, once
    per jurisdiction version)."""
    s = settings or Settings()
    tw = twilio or TwilioSettings()
    rt = Runtime(s, SERVICE, title="omni311 SMS and voice intake (Twilio)")
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
                         geocoder=geocoder or geocoder_for(jur))
    if (close := getattr(deps.geocoder, "aclose", None)) is not None:  # a server geocoder's HTTP client
        rt.on_stop.append(close)
    http.mount(rt, deps, tw)
    return rt.app
