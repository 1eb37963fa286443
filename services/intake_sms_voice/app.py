"""intake_sms_voice bootstrap: Twilio webhooks for SMS/MMS, WhatsApp, voice (IVR, recordings,
transcriptions) and message status callbacks.

Produces on `intake.messages` (published with acks=all before the webhook answers, through
`shared.intake`): `intake.message_received`, `intake.opt_out_received`, `intake.opt_in_received` and
`intake.message_status_received` (for the notifier). Consumes `case.personal_data_erased` on
`cases.lifecycle` (deletes the media of the case's messages, `service_layer/erasure.py`). Owns each
number's opt-out state, the media kept at intake and the erasure log (schema `intake_sms_voice`, tables
`opt_outs`, `media`, `erasures`); conversation state
travels in Twilio's conversation cookie and in our own signed action URLs. Looks written places up with the
jurisdiction's geocoder (`shared.geocode`). Reads cases through the case service's API (`STATUS <case
number>`, whether a follow-up's case is still open). Downloads a message's media at intake
(`shared.media`) and reads shared contact cards. Routes: `entrypoints/messaging.py`,
`entrypoints/voice.py`, `GET /media/{media_id}` (`shared.media.mount_media`); the subscription:
`entrypoints/kafka.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from services.intake_sms_voice.adapters.opt_outs import PgOptOuts
from services.intake_sms_voice.config import SERVICE, TwilioSettings
from services.intake_sms_voice.entrypoints import http, kafka, wiring
from services.intake_sms_voice.service_layer import erasure, handlers
from shared.geocode import Geocoder, geocoder_for
from shared.intake import CaseApi, IntakePublisher, KafkaIntakePublisher
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.media.erasure import MediaErasureRepository
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
    service's schema, migrated at start) and a fake `media` reader (default: Twilio's media URLs). With the
    schema, `case.personal_data_erased` is consumed (its media erased); without it nothing is kept."""
    s = settings or Settings()
    tw = twilio or TwilioSettings()
    owns_state = opt_outs is None or media is None  # the real store or media keeper: the schema is needed
    rt = Runtime(s, SERVICE, schema_package="services.intake_sms_voice" if owns_state else None,
                 title="omni311 SMS and voice intake (Twilio)")
    if clock is not None:
        rt.clock = clock
    jur = jurisdiction or load_jurisdiction(s.jurisdiction)
    config = handlers.configure(tw, jur)
    deps = handlers.Deps(publisher=publisher or KafkaIntakePublisher(rt.broker, s.topic),
                         case_api=case_api or wiring.case_api_client(rt), config=config,
                         geocoder=geocoder or geocoder_for(jur),
                         opt_outs=opt_outs or PgOptOuts(lambda: rt.db), media=media or wiring.media_keeper(rt, tw))
    if (close := getattr(deps.geocoder, "aclose", None)) is not None:  # a server geocoder's HTTP client
        rt.on_stop.append(close)
    http.mount(rt, deps, tw)
    if owns_state:
        table = erasure.handlers()
        kafka.subscribe(rt, rt.event_handler(lambda: table, MediaErasureRepository))
    return rt.app

