"""The notifier's real senders, built once in `create_app` from the settings: SMTP, and Twilio, Meta and
Mastodon when their credentials are set (a channel without them gets no sender: its notices are recorded
`failed`). Nothing is opened here; the clients connect on their first send."""

from __future__ import annotations

from services.notifier.adapters.mail import SmtpSender
from services.notifier.adapters.senders import MastodonSender, MetaSender, TwilioSender
from services.notifier.config import ChannelSettings
from services.notifier.service_layer.handlers import Senders
from shared.settings import Settings


def smtp(s: Settings, ch: ChannelSettings) -> SmtpSender:
    """`s`'s SMTP server, on at most `ch.notifier_send_concurrency` sessions kept open (closed at stop)."""
    return SmtpSender(s.smtp_host, s.smtp_port, s.smtp_user, s.smtp_password, s.smtp_timeout_s,
                      max_connections=ch.notifier_send_concurrency)


def senders(s: Settings, ch: ChannelSettings, smtp: SmtpSender) -> Senders:
    """Email through `smtp` from `s.mail_from`; texts and messages through `ch`'s providers."""
    return Senders(
        send_email=smtp.send, mail_from=s.mail_from, mail_from_name=s.mail_from_name,
        reply_subaddress=s.mail_reply_subaddress, twilio=TwilioSender(ch) if ch.twilio_enabled() else None,
        meta=MetaSender(ch) if ch.meta_access_token else None,
        mastodon=MastodonSender(ch) if ch.mastodon_api_base_url and ch.mastodon_access_token else None)
