"""The notifier on staff casework: escalation emails to supervisors, public updates and replies to the
reporters on their own channel, the undoing of a merge, workflow status notices and the erasure of
contacts; each once per cause and recipient, on an in-memory unit of work and fake senders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from notifier_fakes import ADDRESS, Sent, handle, recorded, table_for

from services.notifier.domain.messages import recipient_key
from shared.events import CaseEscalated, NotificationRecorded
from support.uow import T0, event

SUPERVISOR = "roads.supervisor@city.test"


def escalated(**kw: Any) -> CaseEscalated:
    fields: dict[str, Any] = {
        "case_id": uuid4(), "service_request_id": "DEMO-26-000042", "jurisdiction_id": "demo", "rule_id": "pw-breach",
        "trigger": "breach", "priority": 1, "previous_priority": 3, "queue": "pw-supervisors",
        "previous_queue": "pw-streets", "email_to": [SUPERVISOR], "due_at": datetime(2026, 3, 2, 16, 0, tzinfo=UTC),
        "service_name": "Pothole"}
    return CaseEscalated(**{**fields, **kw})


# --- escalation ------------------------------------------------------------------------------------------


async def test_an_escalation_emails_the_supervisor_with_the_case_due_time_actions_and_workbench_link(
        store: Any, sent: Sent) -> None:
    table = table_for(store, sent, workbench_base_url="https://work.city.test/", tz=ZoneInfo("America/New_York"))
    ev = escalated()
    env = event(ev, subject=ev.case_id)

    assert await store.handle(table, env) == "sending,sent"

    [mail] = sent.emails
    assert mail["To"] == SUPERVISOR and mail["In-Reply-To"] is None and mail["Reply-To"] is None
    subject = mail["Subject"]
    assert "DEMO-26-000042" in subject and "Pothole" in subject and "2026-03-02 11:00 EST" in subject
    body = mail.get_body(("plain",)).get_content()
    assert "https://work.city.test/cases/DEMO-26-000042" in body
    assert "priority to 1 (it was 3)" in body and "pw-supervisors (from pw-streets)" in body
    assert "pw-breach" in body and "past its SLA due time" in body
    assert mail["Auto-Submitted"] == "auto-generated"
    [note] = recorded(store)
    assert (note.kind, note.notice, note.outcome, note.channel) == ("status_changed", "escalation", "sent", "email")
    assert note.pii.email == SUPERVISOR and note.cause_event_id == env.event_id and note.case_id == ev.case_id
    assert store.repo.deliveries[0]["kind"] == "escalation"


async def test_the_same_escalation_twice_sends_one_email_per_address(store: Any, table: Any, sent: Sent) -> None:
    ev = escalated(email_to=[SUPERVISOR, "ops@city.test", f" {SUPERVISOR} "])
    env = event(ev, subject=ev.case_id)

    assert await store.handle(table, env) == "sending,sending,sent,sent"
    assert await store.handle(table, env) == "duplicate"
    # the same rule acting again in another event is another email (a new clock generation)
    assert await handle(store, table, ev) == "sending,sending,sent,sent"

    assert sorted(m["To"] for m in sent.emails) == sorted(["ops@city.test", SUPERVISOR] * 2)


async def test_a_warning_escalation_that_only_emails_says_so(store: Any, table: Any, sent: Sent) -> None:
    ev = escalated(trigger="warning", priority=None, previous_priority=None, queue=None, previous_queue=None,
                   due_at=None, service_name=None)

    assert await handle(store, table, ev) == "sending,sent"

    [mail] = sent.emails
    body = mail.get_body(("plain",)).get_content()
    assert "close to its SLA due time" in body and "priority" not in body and "queue" not in body
    assert "https://workbench.city.test/cases/DEMO-26-000042" in body


async def test_an_escalation_without_addresses_sends_nothing(store: Any, table: Any, sent: Sent) -> None:
    assert await handle(store, table, escalated(email_to=[])) == "no_recipient"
    assert sent.count() == 0 and store.emitted() == []


async def test_an_escalation_to_a_bounced_address_is_recorded_suppressed(store: Any, table: Any, sent: Sent) -> None:
    from shared.events import BounceReceived

    bounce = BounceReceived(channel="email", channel_message_id="<dsn@mx.test>", contact_key="ck", received_at=T0,
                            reason="mailbox unknown", status="5.1.1", pii={"email": SUPERVISOR})
    await handle(store, table, bounce)

    assert await handle(store, table, escalated()) == "suppressed"

    assert sent.count() == 0
    note = store.emitted("notification.recorded")[0].payload(NotificationRecorded)
    assert (note.outcome, note.notice) == ("suppressed", "escalation")
    assert store.repo.deliveries[0]["recipient_key"] == recipient_key("email", SUPERVISOR) != ADDRESS
