"""Notifier bootstrap: wires the senders, the handlers and the subscription.

Consumes `cases.lifecycle` (`case.opened`, `case.merged`, `case.status_changed`, `case.message_added`,
`case.public_update`, `case.reply_requested`, `case.unmerged`, `case.escalated`, `case.personal_data_erased`,
`case.followed`) and `intake.messages` (`intake.bounce_received`, `intake.opt_out_received`,
`intake.opt_in_received`, `intake.message_status_received`, `intake.delivery_status_received`,
`intake.message_unsupported`); produces `notification.recorded` on `notifications.outcomes` through the outbox. Owns the `notifier` schema (contacts, followers, case statuses,
opt-outs, undeliverable addresses, deliveries); a sweeper settles the deliveries a crash left `sending`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.notifier.adapters.jurisdiction import WorkflowTexts
from services.notifier.adapters.mail import SmtpSender
from services.notifier.adapters.repository import NotifierRepository
from services.notifier.adapters.senders import MastodonSender, MetaSender, TwilioSender
from services.notifier.config import SERVICE, ChannelSettings
from services.notifier.entrypoints import kafka
from services.notifier.entrypoints.sweeper import Sweeper
from services.notifier.service_layer import handlers
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import Envelope
from shared.jurisdiction import load_jurisdiction
from shared.service import Runtime
from shared.service_layer import Handlers
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, channels: ChannelSettings | None = None) -> Any:
    """The notifier's FastAPI app (probes `/healthz`, `/readyz`, `/metrics`), whose lifespan runs the
    service: `settings` (default: `Settings()`, SMTP and mail sender included) and `channels` (Twilio, Meta,
    Mastodon; default: `ChannelSettings()`), both from the `OMNI311_` environment. A channel without
    credentials gets no sender (its notices are recorded `failed`). Nothing is opened here; on start the
    `notifier` schema is migrated, the pool, outbox relay and consumer are started and the jurisdiction
    (`settings.jurisdiction`: workflow status texts, time zone) is loaded. Starting raises
    `JurisdictionConfigError` for a jurisdiction that cannot be loaded, `OSError`/`asyncpg.PostgresError`/
    Kafka errors when the infrastructure cannot be reached."""
    s = settings or Settings()
    ch = channels or ChannelSettings()
    rt = Runtime(s, SERVICE, schema_package="services.notifier")
    smtp = SmtpSender(s.smtp_host, s.smtp_port, s.smtp_user, s.smtp_password, s.smtp_timeout_s)
    senders = handlers.Senders(
        send_email=smtp.send, mail_from=s.mail_from, mail_from_name=s.mail_from_name,
        reply_subaddress=s.mail_reply_subaddress, twilio=TwilioSender(ch) if ch.twilio_enabled() else None,
        meta=MetaSender(ch) if ch.meta_access_token else None,
        mastodon=MastodonSender(ch) if ch.mastodon_api_base_url and ch.mastodon_access_token else None)

    def record_uow(envelope: Envelope, now: datetime) -> PgUnitOfWork[NotifierRepository]:
        # After a send: the consumed event's envelope (so the record is caused by it), no inbox claim.
        return rt.unit_of_work(NotifierRepository, envelope=envelope, now=now)

    table: dict[str, Handlers] = {}
    async def start() -> None:
        texts = WorkflowTexts(home := load_jurisdiction(s.jurisdiction))
        table["h"] = handlers.handlers(handlers.Sending(
            senders, record_uow, reply_window_h=ch.meta_reply_window_h, status_text=texts,
            workbench_base_url=s.workbench_base_url, tz=texts.tz, phone_region=texts.phone_region,
            first_locale=texts.first_locale, home_jurisdiction_id=home.id, survey=handlers.SurveyLinks(
                secret=s.survey_secret, ttl_s=s.survey_ttl_s, base_url=s.portal_base_url or s.public_base_url)))

    rt.on_start.append(start)
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], NotifierRepository))
    _sweeper(rt, ch)
    return rt.app


def _sweeper(rt: Runtime, ch: ChannelSettings) -> None:
    """Run the sweeper of deliveries a crash left `sending` once started, and stop it before the pool closes."""
    sweeper = Sweeper(lambda: rt.unit_of_work(NotifierRepository), interval_s=ch.notifier_sweep_interval_s,
                      older_than_s=ch.notifier_sending_timeout_s)

    async def start() -> None:
        sweeper.start()

    rt.on_start.append(start)
    rt.on_stop.append(sweeper.stop)
