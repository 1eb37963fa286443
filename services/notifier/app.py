"""Notifier entry point: every subscription in one place.

Consumes `cases.lifecycle` (`case.opened`, `case.merged`, `case.status_changed`, `case.message_added`) and `intake.messages`
(`intake.bounce_received`, `intake.opt_out_received`, `intake.opt_in_received`,
`intake.message_status_received`, `intake.delivery_status_received`; resident messages there are the
case service's);
produces `notifications.outcomes` through the outbox.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka.annotations import KafkaMessage

from services.notifier.adapters.mail import SmtpSender
from services.notifier.adapters.senders import MastodonSender, MetaSender, TwilioSender
from services.notifier.config import ChannelSettings
from services.notifier.service_layer import handlers
from shared.events import (
    BounceReceived,
    CaseMerged,
    CaseMessageAdded,
    CaseOpened,
    CaseStatusChanged,
    DeliveryStatusReceived,
    MessageStatusReceived,
    OptInReceived,
    OptOutReceived,
)
from shared.kafka import SUBSCRIBER_DEFAULTS
from shared.service import Runtime
from shared.settings import Settings

SERVICE = "notifier"

DISPATCH = {
    CaseOpened.event_type: handlers.on_case_opened,
    CaseMerged.event_type: handlers.on_case_merged,
    CaseStatusChanged.event_type: handlers.on_status_changed,
    CaseMessageAdded.event_type: handlers.on_message_added,
    BounceReceived.event_type: handlers.on_bounce,
    OptOutReceived.event_type: handlers.on_opt_out,
    OptInReceived.event_type: handlers.on_opt_in,
    MessageStatusReceived.event_type: handlers.on_message_status,
    DeliveryStatusReceived.event_type: handlers.on_delivery_status,
}


def create_app(settings: Settings | None = None, *, channels: ChannelSettings | None = None) -> Any:
    s = settings or Settings()
    ch = channels or ChannelSettings()
    rt = Runtime(s, SERVICE, schema_package="services.notifier")
    sender = SmtpSender(s.smtp_host, s.smtp_port, s.smtp_user, s.smtp_password, s.smtp_timeout_s)

    twilio = TwilioSender(ch) if ch.twilio_enabled() else None
    meta = MetaSender(ch) if ch.meta_access_token else None
    mastodon = MastodonSender(ch) if ch.mastodon_api_base_url and ch.mastodon_access_token else None
    call = rt.dispatcher(DISPATCH, lambda: handlers.Deps(pool=rt.db, send_email=sender.send,
                                                        mail_from=s.mail_from, mail_from_name=s.mail_from_name,
                                                        reply_subaddress=s.mail_reply_subaddress,
                                                        twilio=twilio, meta=meta, mastodon=mastodon,
                                                        reply_window_h=ch.meta_reply_window_h))

    @rt.broker.subscriber(s.topic("cases.lifecycle"), s.topic("intake.messages"), group_id=s.group(SERVICE),
                          **SUBSCRIBER_DEFAULTS)
    async def on_event(msg: KafkaMessage) -> None:
        await rt.consumer.handle(msg, call)

    return rt.app
