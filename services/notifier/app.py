"""Notifier bootstrap: wires the senders, the handlers, the two subscriptions and the profile API.

Consumes `cases.lifecycle` (`case.opened`, `case.merged`, `case.status_changed`, `case.message_added`,
`case.public_update`, `case.reply_requested`, `case.unmerged`, `case.escalated`, `case.personal_data_erased`,
`case.followed`) and `intake.messages` (bounces, opt-outs and opt-ins, provider statuses,
`intake.message_unsupported`); produces `notification.recorded` on `notifications.outcomes` through the
outbox. Owns the `notifier` schema (contacts, followers, case statuses, opt-outs, undeliverable addresses,
deliveries, resident profiles, link requests); a sweeper settles deliveries a crash left `sending`; serves
the profile API (`entrypoints/http.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import uuid4

from services.notifier.adapters.jurisdiction import WorkflowTexts
from services.notifier.adapters.repository import NotifierRepository
from services.notifier.config import SERVICE, ChannelSettings, ProfileSettings
from services.notifier.entrypoints import http, kafka, wiring
from services.notifier.entrypoints.sweeper import run_sweeper
from services.notifier.service_layer import handlers
from services.notifier.service_layer.lanes import SendLanes
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import Envelope
from shared.jurisdiction import load_jurisdiction
from shared.service import Runtime
from shared.service_layer import Handlers
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, channels: ChannelSettings | None = None,
               profiles: ProfileSettings | None = None) -> Any:
    """The notifier's FastAPI app (probes, the profile API), whose lifespan runs the service: `settings`
    (default `Settings()`, SMTP included), `channels` (Twilio, Meta, Mastodon; default `ChannelSettings()`;
    a channel without credentials gets no sender: its notices are recorded `failed`) and `profiles` (link
    codes; default `ProfileSettings()`), all from the `OMNI311_` environment. Nothing is opened here; on
    start the schema is migrated, the pool, relay and consumer started, the jurisdiction loaded. Starting
    raises `JurisdictionConfigError`, `OSError`/`asyncpg.PostgresError`/Kafka errors when it cannot."""
    s = settings or Settings()
    ch = channels or ChannelSettings()
    rt = Runtime(s, SERVICE, schema_package="services.notifier")
    senders = wiring.senders(s, ch, smtp := wiring.smtp(s, ch))
    instance_id = uuid4()  # this process: the owner of the deliveries it claims, for the sweepers of all replicas
    lanes, in_flight = SendLanes(ch.notifier_send_concurrency), set[int]()  # sends after a batch, its own sweeper

    def record_uow(envelope: Envelope, now: datetime) -> PgUnitOfWork[NotifierRepository]:
        # After a send: the consumed event's envelope (so the record is caused by it), no inbox claim.
        return rt.unit_of_work(NotifierRepository, envelope=envelope, now=now)

    table: dict[str, Handlers] = {}

    async def start() -> None:
        texts = WorkflowTexts(home := load_jurisdiction(s.jurisdiction))
        table["h"] = handlers.handlers(handlers.Sending(
            senders, record_uow, reply_window_h=ch.meta_reply_window_h, status_text=texts,
            workbench_base_url=s.workbench_base_url, tz=texts.tz, phone_region=texts.phone_region,
            first_locale=texts.first_locale, home_jurisdiction_id=home.id, instance_id=instance_id,
            lanes=lanes, in_flight=in_flight,
            survey=handlers.SurveyLinks(
                secret=s.survey_secret, ttl_s=s.survey_ttl_s, base_url=s.portal_base_url or s.public_base_url)))

    rt.on_start.append(start)
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], NotifierRepository))
    rt.on_stop.append(lanes.drain)  # the consumer stopped: the sends in hand end before the pool closes
    rt.on_stop.append(smtp.close)  # then the SMTP sessions kept open (QUIT)
    run_sweeper(rt, ch, instance_id, senders, record_uow, in_flight)
    http.serve(rt, senders, profiles or ProfileSettings())
    return rt.app
