"""Notifier entry point: every subscription in one place.

Consumes `cases.lifecycle` (`case.opened`, `case.merged`, `case.status_changed`) and
`intake.messages` (`intake.bounce_received` only; resident messages there are the case service's);
produces `notifications.outcomes` through the outbox.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka.annotations import KafkaMessage

from services.notifier.adapters.mail import SmtpSender
from services.notifier.service_layer import handlers
from shared.events import BounceReceived, CaseMerged, CaseOpened, CaseStatusChanged
from shared.kafka import SUBSCRIBER_DEFAULTS
from shared.service import Runtime
from shared.settings import Settings

SERVICE = "notifier"

DISPATCH = {
    CaseOpened.event_type: handlers.on_case_opened,
    CaseMerged.event_type: handlers.on_case_merged,
    CaseStatusChanged.event_type: handlers.on_status_changed,
    BounceReceived.event_type: handlers.on_bounce,
}


def create_app(settings: Settings | None = None) -> Any:
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.notifier")
    sender = SmtpSender(s.smtp_host, s.smtp_port, s.smtp_user, s.smtp_password, s.smtp_timeout_s)

    call = rt.dispatcher(DISPATCH, lambda: handlers.Deps(pool=rt.db, send_email=sender.send,
                                                        mail_from=s.mail_from, mail_from_name=s.mail_from_name,
                                                        reply_subaddress=s.mail_reply_subaddress))

    @rt.broker.subscriber(s.topic("cases.lifecycle"), s.topic("intake.messages"), group_id=s.group(SERVICE),
                          **SUBSCRIBER_DEFAULTS)
    async def on_event(msg: KafkaMessage) -> None:
        await rt.consumer.handle(msg, call)

    return rt.app
