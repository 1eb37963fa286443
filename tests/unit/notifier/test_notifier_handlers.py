"""Notifier handlers on an in-memory unit of work and fake senders: each notice claimed once in the event's
transaction and sent after its commit, suppressed for opt-outs, bounces and Meta's closed window, merged
reporters kept informed, and provider statuses recorded against the delivery."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from notifier_fakes import (
    ADDRESS,
    PHONE,
    Sent,
    closed,
    handle,
    merge,
    opened,
    opt_out,
    recorded,
    table_for,
)

from services.notifier.domain.messages import recipient_key
from shared.events import (
    BounceReceived,
    CaseMessageAdded,
    DeliveryStatusReceived,
    Envelope,
    MessageReceived,
    MessageStatusReceived,
    NotificationRecorded,
    OptInReceived,
    Pii,
    ProviderError,
)
from support.uow import T0, event

# --- acknowledgements ------------------------------------------------------------------------------------


async def test_an_email_reporter_is_acknowledged_once_in_their_own_thread(store: Any, table: Any, sent: Sent) -> None:
    case = opened()
    env = event(case, subject=case.case_id)

    assert await store.handle(table, env) == "sending,sent"

    [mail] = sent.emails
    assert mail["In-Reply-To"] == case.channel_message_id and case.service_request_id in mail["Subject"]
    # the delivery's own Message-ID on the sending domain: its id and cause, the same for any copy of it
    assert mail["Message-ID"] == f"<omni311.d1.{env.event_id.hex}@city.test>"
    [out] = store.emitted("notification.recorded")
    note = out.payload(NotificationRecorded)
    assert (note.kind, note.outcome, note.channel, note.pii.email) == ("acknowledgement", "sent", "email", ADDRESS)
    assert note.provider_message_id == mail["Message-ID"] and note.cause_event_id == env.event_id
    assert out.causation_id == env.event_id and out.correlation_id == env.correlation_id
    [row] = store.repo.deliveries
    assert (row["status"], row["provider_message_id"], row["finished_at"]) == ("sent", mail["Message-ID"], T0)
    assert store.commits == 3  # the event's unit of work, the mark just before the send, the send's record


async def test_the_same_event_twice_is_a_duplicate_and_nothing_goes_out_twice(store: Any, table: Any,
                                                                               sent: Sent) -> None:
    case = opened("sms", phone=PHONE)
    env = event(case, subject=case.case_id)
    assert await store.handle(table, env) == "sending,sent"

    assert await store.handle(table, env) == "duplicate"
    assert len(sent.texts) == 1 and len(store.emitted()) == 1 and len(store.repo.deliveries) == 1


async def test_a_reporter_answered_on_their_channel_sms_messenger_or_mastodon(store: Any, table: Any,
                                                                              sent: Sent) -> None:
    await handle(store, table, opened("sms", phone=PHONE))
    await handle(store, table, opened("messenger", handle="2456", email=ADDRESS))
    mastodon = opened("mastodon", handle="@ann@social.example")
    await handle(store, table, mastodon)

    assert [(s, a) for s, a, _ in sent.texts] == [("sms", PHONE), ("messenger", "2456"),
                                                 ("mastodon", "@ann@social.example")]
    assert sent.texts[2][2].endswith(f"(re {mastodon.channel_message_id})") and sent.emails == []
    assert [n.channel for n in recorded(store)] == ["sms", "messenger", "mastodon"]


# --- what suppresses a notice ----------------------------------------------------------------------------


async def test_an_opted_out_number_is_suppressed_with_the_reason_and_sent_nothing(store: Any, table: Any,
                                                                                  sent: Sent) -> None:
    assert await handle(store, table, opt_out()) == "opted_out"
    case = opened("sms", phone=PHONE)

    assert await handle(store, table, case) == "suppressed"

    assert sent.count() == 0
    [note] = recorded(store)
    assert (note.outcome, note.reason, note.pii.phone) == ("suppressed", "opted out (keyword STOP)", PHONE)
    assert store.repo.deliveries[0]["status"] == "suppressed"
    assert store.commits == 2  # the suppression is recorded in the event's own unit of work


async def test_opting_in_again_lets_notices_through(store: Any, table: Any, sent: Sent) -> None:
    await handle(store, table, opt_out())
    optin = OptInReceived(channel="sms", channel_message_id="SMstart", contact_key="ck", received_at=T0,
                          keyword="START", pii={"phone": PHONE})

    assert await handle(store, table, optin) == "opted_in"
    assert store.repo.opt_outs == {}
    assert await handle(store, table, opened("sms", phone=PHONE)) == "sending,sent"
    assert len(sent.texts) == 1


async def test_a_bounced_address_is_suppressed_and_bounces_are_counted(store: Any, table: Any, sent: Sent) -> None:
    bounce = BounceReceived(channel="email", channel_message_id="<dsn@mx.test>", contact_key="ck", received_at=T0,
                            reason="mailbox unknown", status="5.1.1", pii={"email": "Ann@Resident.test"})
    env = event(bounce, subject="ck")
    assert await store.handle(table, env) == "marked_undeliverable"
    assert await store.handle(table, env) == "duplicate"
    await handle(store, table, bounce.model_copy(update={"channel_message_id": "<dsn2@mx.test>"}))

    assert await handle(store, table, opened()) == "suppressed"

    assert sent.count() == 0
    assert recorded(store)[0].reason == "undeliverable: mailbox unknown"
    assert store.repo.undeliverable[recipient_key("email", ADDRESS)]["bounces"] == 2


async def test_a_bounce_without_an_address_is_refused_and_not_claimed(store: Any, table: Any) -> None:
    bounce = BounceReceived(channel="email", channel_message_id="<dsn@mx.test>", contact_key="ck", received_at=T0,
                            reason="?")
    with pytest.raises(ValueError, match="without pii.email"):
        await handle(store, table, bounce)
    assert store.inbox == set() and store.repo.undeliverable == {}


async def test_an_opt_out_without_a_phone_is_refused_and_not_claimed(store: Any, table: Any) -> None:
    stop = opt_out().model_copy(update={"pii": Pii()})

    with pytest.raises(ValueError, match="without pii.phone"):
        await handle(store, table, stop)

    assert store.inbox == set() and store.repo.opt_outs == {} and store.emitted() == []


async def test_an_opt_in_without_a_phone_is_refused_and_not_claimed(store: Any, table: Any) -> None:
    await handle(store, table, opt_out())
    claimed = set(store.inbox)
    start = OptInReceived(channel="sms", channel_message_id="SMstart", contact_key="ck", received_at=T0,
                          keyword="START")

    with pytest.raises(ValueError, match="without pii.phone"):
        await handle(store, table, start)

    assert store.inbox == claimed and list(store.repo.opt_outs) == [recipient_key("sms", PHONE)]


async def test_outside_metas_24_h_window_the_notice_goes_by_email(store: Any, table: Any, sent: Sent) -> None:
    case = opened("instagram", at=T0 - timedelta(hours=25), handle="2456", email=ADDRESS)

    assert await handle(store, table, case) == "sending,sent"

    assert sent.texts == [] and len(sent.emails) == 1 and sent.emails[0]["In-Reply-To"] is None
    assert recorded(store)[0].channel == "email"


async def test_outside_metas_window_without_an_email_the_notice_is_suppressed(store: Any, table: Any,
                                                                              sent: Sent) -> None:
    case = opened("messenger", at=T0 - timedelta(hours=25), handle="2456")

    assert await handle(store, table, case) == "suppressed"

    assert sent.count() == 0
    [note] = recorded(store)
    assert (note.channel, note.pii.handle) == ("messenger", "2456") and "24 h reply window" in (note.reason or "")


async def test_a_message_on_the_reporters_channel_moves_the_reply_window(store: Any, table: Any,
                                                                         sent: Sent) -> None:
    case = opened("messenger", at=T0 - timedelta(hours=23), handle="2456", email=ADDRESS)
    await handle(store, table, case)

    def added(channel: str, handle: str) -> CaseMessageAdded:
        return CaseMessageAdded(case_id=case.case_id, service_request_id=case.service_request_id,
                                jurisdiction_id="demo", message_id=uuid4(), channel=channel,  # type: ignore[arg-type]
                                channel_message_id="m_2", pii={"handle": handle})

    assert await handle(store, table, added("email", "2456")) == "not_the_reporter_channel"
    assert await handle(store, table, added("messenger", "9999")) == "not_the_reporter_channel"
    assert await handle(store, table, added("messenger", "2456"), now=T0 + timedelta(hours=1)) == "window_moved"
    assert store.repo.contacts[case.case_id].last_inbound_at == T0 + timedelta(hours=1)

    # 20 h later: 44 h after the report, but 19 h after its last message: still on Messenger
    assert await handle(store, table, closed(case), now=T0 + timedelta(hours=20)) == "sending,sent"
    assert [c for c, _, _ in sent.texts] == ["messenger", "messenger"] and sent.emails == []


# --- failures --------------------------------------------------------------------------------------------


async def test_a_failed_send_is_recorded_failed_and_never_retried(store: Any, table: Any, sent: Sent) -> None:
    sent.fail = ConnectionError("smtp down")
    case = opened()
    env = event(case, subject=case.case_id)

    assert await store.handle(table, env) == "sending,failed"

    [note] = recorded(store)
    assert (note.outcome, note.reason) == ("failed", "ConnectionError: smtp down")
    assert store.repo.deliveries[0]["status"] == "failed"
    sent.fail = None
    assert await store.handle(table, env) == "duplicate"
    assert sent.count() == 0


async def test_a_channel_that_is_not_configured_is_recorded_failed(store: Any, sent: Sent) -> None:
    table = table_for(store, sent, twilio=False)

    assert await handle(store, table, opened("sms", phone=PHONE)) == "sending,failed"

    assert "Twilio is not configured" in (recorded(store)[0].reason or "")


async def test_a_failure_before_the_commit_sends_nothing_and_leaves_the_event_to_retry(store: Any, table: Any,
                                                                                      sent: Sent) -> None:
    survivor, joined = opened(), opened("sms", phone=PHONE)
    for payload in (survivor, joined, merge(joined, survivor)):
        await handle(store, table, payload)
    before = (sent.count(), len(store.outbox), list(store.repo.deliveries))
    env = event(closed(survivor), subject=survivor.case_id)
    real_claim = store.repo.claim_delivery
    calls = 0

    async def second_claim_fails(**kw: Any) -> int | None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("database went away")
        return await real_claim(**kw)

    store.repo.claim_delivery = second_claim_fails
    with pytest.raises(ConnectionError):
        await store.handle(table, env)

    assert (sent.count(), len(store.outbox), store.repo.deliveries) == before
    assert ("notifier", env.event_id) not in store.inbox
    store.repo.claim_delivery = real_claim
    assert await store.handle(table, env) == "sending,sending,sent,sent"


# --- merges and status changes ---------------------------------------------------------------------------


async def test_a_merged_reporter_hears_which_case_their_report_follows(store: Any, table: Any, sent: Sent) -> None:
    survivor, joined = opened(), opened("sms", phone=PHONE)
    await handle(store, table, survivor)
    await handle(store, table, joined)

    assert await handle(store, table, merge(joined, survivor)) == "sending,sent"

    assert survivor.service_request_id in sent.texts[-1][2]
    assert recorded(store)[-1].kind == "merged" and recorded(store)[-1].case_id == joined.case_id


async def test_a_report_merged_into_a_closed_case_also_hears_of_the_closure_once(store: Any, table: Any,
                                                                                 sent: Sent) -> None:
    survivor, joined = opened(), opened("sms", phone=PHONE)
    await handle(store, table, survivor)
    await handle(store, table, joined)
    closing = event(closed(survivor), subject=survivor.case_id)
    await store.handle(table, closing)

    assert await handle(store, table, merge(joined, survivor)) == "sending,sending,sent,sent"

    merged_note, closure = recorded(store)[-2:]
    assert (merged_note.kind, closure.kind) == ("merged", "closed")
    assert closure.case_id == joined.case_id and closure.cause_event_id == closing.event_id
    assert "Repaired." in sent.texts[-1][2]
    # another merge event for the same report: the closure caused by the same closing event is not repeated
    assert await handle(store, table, merge(joined, survivor)) == "sending,already_attempted,sent"


async def test_a_merge_for_a_case_the_notifier_never_saw_opened_tells_no_one(store: Any, table: Any) -> None:
    assert await handle(store, table, merge(opened(), opened())) == "no_contact"
    assert store.emitted() == []


async def test_a_status_change_reaches_the_reporters_merged_into_the_case(store: Any, table: Any, sent: Sent) -> None:
    survivor, joined = opened(), opened("sms", phone=PHONE)
    for payload in (survivor, joined, merge(joined, survivor)):
        await handle(store, table, payload)

    assert await handle(store, table, closed(survivor, "open", "Crew assigned.")) == "sending,sending,sent,sent"

    notes = recorded(store)[-2:]
    assert {(n.case_id, n.kind) for n in notes} == {(survivor.case_id, "status_changed"),
                                                   (joined.case_id, "status_changed")}
    assert "Crew assigned." in sent.texts[-1][2] and survivor.service_request_id in sent.texts[-1][2]
    assert store.repo.statuses[survivor.case_id][0].status == "open"


async def test_after_chained_merges_the_first_reporter_still_hears_of_the_closure(store: Any, table: Any,
                                                                                   sent: Sent) -> None:
    a, b, c = opened(contact_key="a", email="a@resident.test"), opened(contact_key="b", email="b@resident.test"), \
        opened(contact_key="c", email="c@resident.test")
    for payload in (a, b, c, merge(a, b), merge(b, c)):
        await handle(store, table, payload)
    before = len(sent.emails)

    await handle(store, table, closed(c))

    assert sorted(str(m["To"]) for m in sent.emails[before:]) == ["a@resident.test", "b@resident.test",
                                                                  "c@resident.test"]


async def test_a_status_change_of_a_case_without_reporters_tells_no_one(store: Any, table: Any) -> None:
    assert await handle(store, table, closed(opened())) == "no_contact"


# --- provider statuses -----------------------------------------------------------------------------------


def twilio_status(sid: str, *, outcome: str = "delivered", error_code: int | None = None) -> MessageStatusReceived:
    return MessageStatusReceived(channel="sms", provider_message_id=sid, contact_key="ck", received_at=T0,
                                 status="undelivered" if outcome == "failed" else outcome,
                                 outcome=outcome, error_code=error_code, pii={"phone": PHONE})  # type: ignore[arg-type]


async def test_a_carrier_21610_opts_the_number_out_and_is_recorded_on_the_delivery(store: Any, table: Any,
                                                                                  sent: Sent) -> None:
    case = opened("sms", phone=PHONE)
    await handle(store, table, case)
    sid = recorded(store)[0].provider_message_id
    assert sid

    assert await handle(store, table, twilio_status(sid, outcome="failed", error_code=21610)) == "status_failed"

    note = recorded(store)[-1]
    assert (note.outcome, note.delivery_status, note.reason) == ("failed", "failed",
                                                                 "provider status undelivered (error 21610)")
    assert note.pii.phone is None and note.provider_message_id == sid
    assert store.repo.deliveries[0]["provider_status"] == "failed"
    [(out, _)] = store.repo.opt_outs.values()
    assert (out.reason, out.source) == ("opted out (provider_error 21610)", "provider_error")
    assert await handle(store, table, closed(case)) == "suppressed"
    assert len(sent.texts) == 1


async def test_an_undelivered_twilio_status_other_than_21610_is_recorded_failed_without_opting_out(
        store: Any, table: Any, sent: Sent) -> None:
    case = opened("sms", phone=PHONE)
    await handle(store, table, case)
    sid = recorded(store)[0].provider_message_id
    assert sid

    assert await handle(store, table, twilio_status(sid, outcome="failed", error_code=30003)) == "status_failed"

    note = recorded(store)[-1]
    assert (note.outcome, note.delivery_status, note.reason) == ("failed", "failed",
                                                                 "provider status undelivered (error 30003)")
    assert store.repo.deliveries[0]["provider_status"] == "failed" and store.repo.opt_outs == {}
    assert await handle(store, table, closed(case)) == "sending,sent"
    assert len(sent.texts) == 2


async def test_a_whatsapp_cloud_status_is_recorded_against_the_delivery(store: Any, table: Any) -> None:
    await handle(store, table, opened("whatsapp", handle="16135550123"))
    mid = recorded(store)[0].provider_message_id
    assert mid
    status = DeliveryStatusReceived(channel="whatsapp", provider_message_id=mid, contact_key="ck", status="read",
                                    reported_at=T0, received_at=T0)

    assert await handle(store, table, status) == "status_read"
    assert (recorded(store)[-1].outcome, recorded(store)[-1].delivery_status) == ("sent", "read")


async def test_a_failed_whatsapp_cloud_status_is_recorded_failed_with_its_errors(store: Any, table: Any) -> None:
    await handle(store, table, opened("whatsapp", handle="16135550123"))
    mid = recorded(store)[0].provider_message_id
    assert mid
    status = DeliveryStatusReceived(channel="whatsapp", provider_message_id=mid, contact_key="ck", status="failed",
                                    reported_at=T0, received_at=T0,
                                    errors=[ProviderError(code="131047", title="Re-engagement message"),
                                            ProviderError(code="131026", title="Message undeliverable")])

    assert await handle(store, table, status) == "status_failed"

    note = recorded(store)[-1]
    assert (note.outcome, note.delivery_status, note.provider_message_id) == ("failed", "failed", mid)
    assert note.reason == ("provider status failed (131047 Re-engagement message; "
                           "131026 Message undeliverable)")
    assert store.repo.deliveries[0]["provider_status"] == "failed"


async def test_a_status_for_a_message_that_is_not_ours_is_unknown(store: Any, table: Any) -> None:
    assert await handle(store, table, twilio_status("SMnotours")) == "unknown_message"
    assert store.emitted() == [] and store.repo.opt_outs == {}


async def test_resident_messages_on_intake_messages_are_not_the_notifiers(store: Any, table: Any) -> None:
    message = MessageReceived(channel="sms", channel_message_id="SM9", contact_key="ck", received_at=T0)
    assert await store.handle(table, Envelope.new_flow(message, subject="ck", producer="test", now=T0)) is None
    assert store.inbox == set()
