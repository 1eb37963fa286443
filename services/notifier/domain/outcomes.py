"""What the notifier records: the outcome of a notice, opt-outs, and what a provider later said of a
message we sent (Twilio status callbacks, WhatsApp Cloud statuses). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from services.notifier.domain.messages import Notice, recipient_key
from services.notifier.domain.targets import REASON_MAX, Target
from shared.events import (
    BounceReceived,
    DeliveryStatusReceived,
    MessageStatusReceived,
    NotificationRecorded,
    OptInReceived,
    OptOutReceived,
)

CARRIER_OPTED_OUT = 21610
"""Twilio error 21610: the carrier refuses messages to a number that texted STOP."""

Outcome = Literal["sent", "failed", "suppressed"]

_V1_KIND = {"public_update": "status_changed", "reply": "status_changed", "unmerged": "merged",
            "escalation": "status_changed"}
# Kinds `notification.recorded` v1's `notice` cannot name yet (its list is a shared schema): recorded as the
# nearest v1 kind alone; `deliveries.kind` keeps the precise one.
_V1_ONLY = {"followed": "acknowledgement", "survey_invitation": "closed", "location_confirm": "acknowledgement",
            "location_not_found": "acknowledgement", "text_request": "acknowledgement"}


def recorded_kind(kind: str) -> tuple[str, str | None]:
    """(`kind`, `notice`) of `notification.recorded` v1 for a notice kind: the four first kinds as they are;
    a public update, reply, unmerge or escalation as the nearest v1 kind with `notice` naming it; a
    follower's confirmation, the "Did you mean" question (`location_confirm`) and the question after a
    written place that was not found (`location_not_found`) as ``acknowledgement`` and a survey invitation
    as ``closed``, without `notice`. A request to write as text (`text_request`) maps to
    ``acknowledgement`` too, though it is never published: it has no case to land on (its delivery row,
    `case_id` NULL, is its record)."""
    if kind in _V1_ONLY:
        return _V1_ONLY[kind], None
    return (_V1_KIND[kind], kind) if kind in _V1_KIND else (kind, None)


def notice_recorded(*, case_id: UUID, cause_event_id: UUID, notice: Notice, target: Target, outcome: Outcome,
                    reason: str | None = None, provider_message_id: str | None = None) -> NotificationRecorded:
    """`notification.recorded` for one attempt to tell a reporter (or a supervisor) something; the address
    is its PII."""
    kind, told = recorded_kind(notice.kind)
    return NotificationRecorded(case_id=case_id, cause_event_id=cause_event_id, kind=kind,  # type: ignore[arg-type]
                               notice=told, channel=target.channel,  # type: ignore[arg-type]
                               recipient_key=recipient_key(target.channel, target.address), outcome=outcome,
                               reason=reason, provider_message_id=provider_message_id, pii=target.pii)


def send_failure(exc: BaseException) -> str:
    """The reason recorded for a send that raised: the exception's type and text, at most `REASON_MAX`."""
    return f"{type(exc).__name__}: {exc}"[:REASON_MAX]


# --- opt-outs -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptOut:
    """A recipient who asked for nothing more: `recipient_key` of their number on `channel`, the
    `reason` recorded (and given when a notice is suppressed), `source` (``keyword``, ``provider_error``)
    and the `message_id` that said so."""

    recipient_key: str
    channel: str
    reason: str
    source: str
    message_id: str


def _opt_out(channel: str, phone: str, source: str, detail: str, message_id: str) -> OptOut:
    reason = f"opted out ({source} {detail})".strip()[:REASON_MAX]
    return OptOut(recipient_key(channel, phone), channel, reason, source, message_id)


def requested_opt_out(ev: OptOutReceived) -> OptOut:
    """The opt-out an `intake.opt_out_received` asks for (STOP, ARRÊT..., or the carrier's 21610).

    Raises `ValueError` when the event names no phone number.
    """
    if not ev.pii.phone:
        raise ValueError("intake.opt_out_received without pii.phone")
    return _opt_out(ev.channel, ev.pii.phone, ev.source, ev.keyword or str(ev.error_code or ""),
                    ev.channel_message_id)


def opt_in_key(ev: OptInReceived) -> str:
    """The recipient key an `intake.opt_in_received` (START) clears. Raises `ValueError` without a phone."""
    if not ev.pii.phone:
        raise ValueError("intake.opt_in_received without pii.phone")
    return recipient_key(ev.channel, ev.pii.phone)


def carrier_opt_out(ev: MessageStatusReceived) -> OptOut | None:
    """A Twilio status with error 21610 (and the recipient's number) opts that number out; else None."""
    if ev.error_code != CARRIER_OPTED_OUT or not ev.pii.phone:
        return None
    return _opt_out(ev.channel, ev.pii.phone, "provider_error", str(CARRIER_OPTED_OUT), ev.provider_message_id)


# --- bounces --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Undeliverable:
    """An address the mail system refused (a DSN): `recipient_key` of it on `channel`, the bounce's
    `reason` (at most `REASON_MAX` characters) and RFC 3463 `status` (e.g. ``5.1.1``), and the
    Message-ID of the bounce."""

    recipient_key: str
    channel: str
    reason: str
    status: str | None
    bounce_message_id: str


def undeliverable_of(bounce: BounceReceived) -> Undeliverable:
    """The address an `intake.bounce_received` marks undeliverable. Raises `ValueError` without an email."""
    if not bounce.pii.email:
        raise ValueError("intake.bounce_received without pii.email")
    return Undeliverable(recipient_key(bounce.channel, bounce.pii.email), bounce.channel, bounce.reason[:REASON_MAX],
                         bounce.status, bounce.channel_message_id)


# --- provider statuses ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderReport:
    """What a provider said of one of our messages: `status` (kept on the delivery and published as
    `delivery_status`), the `outcome` recorded (``failed`` for a failed status, else ``sent``) and the
    `reason` text."""

    provider_message_id: str
    status: str
    outcome: Literal["sent", "failed"]
    reason: str


def _outcome(status: str) -> Literal["sent", "failed"]:
    return "failed" if status == "failed" else "sent"


def twilio_report(ev: MessageStatusReceived) -> ProviderReport:
    """A Twilio status callback: its normalised outcome (pending, sent, delivered, read, failed) is the
    status; the reason names Twilio's own status and error code."""
    reason = f"provider status {ev.status}" + (f" (error {ev.error_code})" if ev.error_code else "")
    return ProviderReport(ev.provider_message_id, ev.outcome, _outcome(ev.outcome), reason)


def whatsapp_report(ev: DeliveryStatusReceived) -> ProviderReport:
    """A WhatsApp Cloud status (sent, delivered, read, failed) with its errors in the reason."""
    errors = "; ".join(f"{e.code} {e.title}".strip() for e in ev.errors)
    reason = f"provider status {ev.status}" + (f" ({errors})" if errors else "")
    return ProviderReport(ev.provider_message_id, ev.status, _outcome(ev.status), reason[:REASON_MAX])


@dataclass(frozen=True)
class SentNotice:
    """The delivery a provider's message id belongs to (what its status is recorded against); `case_id`
    None for a delivery that answers no case (a request to write as text): nothing is published for it."""

    case_id: UUID | None
    cause_event_id: UUID
    kind: str
    channel: str
    recipient_key: str


def status_recorded(sent: SentNotice, report: ProviderReport) -> NotificationRecorded | None:
    """`notification.recorded` for a provider's status of a message already sent (no PII: the record
    names the recipient by key only); None for a delivery without a case (nothing to record it on)."""
    if sent.case_id is None:
        return None
    kind, told = recorded_kind(sent.kind)
    return NotificationRecorded(case_id=sent.case_id, cause_event_id=sent.cause_event_id,
                               kind=kind, notice=told, channel=sent.channel,  # type: ignore[arg-type]
                               recipient_key=sent.recipient_key, outcome=report.outcome, reason=report.reason,
                               provider_message_id=report.provider_message_id,
                               delivery_status=report.status)  # type: ignore[arg-type]


INTERRUPTED = ("interrupted: the notifier stopped between claiming this notice and recording its send; it may "
               "or may not have gone out, and is not sent again")
"""The reason a delivery left ``sending`` by a crash is settled `failed` with (at most once: never resent)."""


def interrupted_recorded(sent: SentNotice) -> NotificationRecorded | None:
    """`notification.recorded` (``failed``, reason `INTERRUPTED`) for a delivery a crash left ``sending``:
    made visible on the case timeline rather than left open. No PII: the recipient is named by key. None
    for a delivery without a case (its row, settled, is the only record)."""
    if sent.case_id is None:
        return None
    kind, told = recorded_kind(sent.kind)
    return NotificationRecorded(case_id=sent.case_id, cause_event_id=sent.cause_event_id,
                               kind=kind, notice=told, channel=sent.channel,  # type: ignore[arg-type]
                               recipient_key=sent.recipient_key, outcome="failed", reason=INTERRUPTED)


@dataclass(frozen=True)
class Interrupted:
    """A delivery left ``sending`` by a notifier process that stopped beating: `sent` names it; `intent` is
    what it would send (None for a row claimed before intents were kept); `attempted` whether it had been
    handed to a provider (then it may have gone out)."""

    delivery_id: int
    sent: SentNotice
    intent: dict[str, Any] | None
    attempted: bool

    @property
    def resendable(self) -> bool:
        """Certainly not sent, and its message is known: another process may send it, once."""
        return not self.attempted and self.intent is not None


RESENT = ("resent: the notifier that claimed this notice stopped before handing it to the provider; another "
          "replica sent it once, with the same Message-ID")
"""The reason kept with a delivery another replica sent after its owner's crash (`resent_recorded`)."""


def resent_recorded(sent: SentNotice, outcome: Literal["sent", "failed"], reason: str | None,
                    provider_message_id: str | None) -> NotificationRecorded | None:
    """`notification.recorded` for a delivery another replica sent after its owner died before sending it
    (`outcome` ``sent`` with the reason `RESENT`, or ``failed`` with the send's error). No PII: the
    recipient is named by key. None for a delivery without a case."""
    if sent.case_id is None:
        return None
    kind, told = recorded_kind(sent.kind)
    return NotificationRecorded(case_id=sent.case_id, cause_event_id=sent.cause_event_id,
                               kind=kind, notice=told, channel=sent.channel,  # type: ignore[arg-type]
                               recipient_key=sent.recipient_key, outcome=outcome,
                               reason=reason if outcome == "failed" else RESENT,
                               provider_message_id=provider_message_id)
