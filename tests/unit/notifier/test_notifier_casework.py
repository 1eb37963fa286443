"""The notifier on staff casework: escalation emails to supervisors, public updates and replies to the
reporters on their own channel, the undoing of a merge, workflow status notices and the erasure of
contacts; each once per cause and recipient, on an in-memory unit of work and fake senders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from notifier_fakes import ADDRESS, PHONE, Sent, closed, handle, merge, opened, opt_out, recorded, table_for

from services.notifier.domain.channels import sms_segments
from services.notifier.domain.messages import recipient_key
from services.notifier.domain.model import CaseStatus
from services.notifier.entrypoints.sweeper import Sweeper
from shared.events import (
    BounceReceived,
    CaseEscalated,
    CaseOpened,
    CasePersonalDataErased,
    CasePublicUpdate,
    CaseReplyRequested,
    CaseStatusChanged,
    CaseUnmerged,
    NotificationRecorded,
)
from support.mail import text_of
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
    bounce = BounceReceived(channel="email", channel_message_id="<dsn@mx.test>", contact_key="ck", received_at=T0,
                            reason="mailbox unknown", status="5.1.1", pii={"email": SUPERVISOR})
    await handle(store, table, bounce)

    assert await handle(store, table, escalated()) == "suppressed"

    assert sent.count() == 0
    note = store.emitted("notification.recorded")[0].payload(NotificationRecorded)
    assert (note.outcome, note.notice) == ("suppressed", "escalation")
    assert store.repo.deliveries[0]["recipient_key"] == recipient_key("email", SUPERVISOR) != ADDRESS


# --- public updates --------------------------------------------------------------------------------------


def public_update(case: CaseOpened, text: str = "A crew is booked for Tuesday.", update_id: UUID | None = None,
                  ) -> CasePublicUpdate:
    return CasePublicUpdate(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                            actor="u-staff", actor_role="department_staff", update_id=update_id or uuid4(), text=text,
                            language="en")


async def _opened_and_merged(store: Any, table: Any) -> tuple[CaseOpened, CaseOpened]:
    """An email report and an SMS report merged into it, each acknowledged."""
    survivor, joined = opened(contact_key="ck-ann"), opened("sms", contact_key="ck-bob", phone=PHONE)
    for payload in (survivor, joined, merge(joined, survivor)):
        await handle(store, table, payload)
    return survivor, joined


async def test_a_public_update_reaches_every_reporter_merged_ones_included_on_their_own_channel(
        store: Any, table: Any, sent: Sent) -> None:
    survivor, joined = await _opened_and_merged(store, table)
    [ack] = sent.emails

    assert await handle(store, table, public_update(survivor)) == "sending,sending,sent,sent"

    mail = sent.emails[-1]
    assert mail["To"] == ADDRESS and survivor.service_request_id in mail["Subject"]
    # in the case's thread: it answers our acknowledgement, which answered the resident's own mail
    assert mail["In-Reply-To"] == ack["Message-ID"]
    assert mail["References"] == f"{survivor.channel_message_id} {ack['Message-ID']}"
    assert "A crew is booked for Tuesday." in mail.get_body(("plain",)).get_content()
    assert mail["Auto-Submitted"] is None  # a person wrote it (RFC 3834 §5)
    channel, to, text = sent.texts[-1]
    assert (channel, to) == ("sms", PHONE) and "A crew is booked for Tuesday." in text
    assert survivor.service_request_id in text
    notes = recorded(store)[-2:]
    assert {(n.case_id, n.kind, n.notice, n.outcome) for n in notes} == {
        (survivor.case_id, "status_changed", "public_update", "sent"),
        (joined.case_id, "status_changed", "public_update", "sent")}


async def test_the_same_public_update_is_sent_once_per_recipient_even_in_another_event(
        store: Any, table: Any, sent: Sent) -> None:
    survivor, _ = await _opened_and_merged(store, table)
    update = public_update(survivor)
    env = event(update, subject=survivor.case_id)
    before = sent.count()

    assert await store.handle(table, env) == "sending,sending,sent,sent"
    assert await store.handle(table, env) == "duplicate"
    # the case service publishing the same update again under a new event id: still one per recipient
    assert await handle(store, table, update) == "already_attempted,already_attempted"

    assert sent.count() == before + 2


async def test_a_public_update_to_an_opted_out_number_is_suppressed(store: Any, table: Any, sent: Sent) -> None:
    survivor, _ = await _opened_and_merged(store, table)
    await handle(store, table, opt_out())
    texts = len(sent.texts)

    assert await handle(store, table, public_update(survivor)) == "sending,suppressed,sent"

    assert len(sent.texts) == texts
    suppressed = [n for n in recorded(store) if n.outcome == "suppressed"]
    assert [(n.notice, n.reason) for n in suppressed] == [("public_update", "opted out (keyword STOP)")]


async def test_a_public_update_on_a_case_without_known_reporters_tells_no_one(store: Any, table: Any) -> None:
    assert await handle(store, table, public_update(opened())) == "no_contact"
    assert store.emitted() == []


async def test_a_long_public_update_by_sms_keeps_the_case_number_and_at_most_four_segments(
        store: Any, table: Any, sent: Sent) -> None:
    case = opened("sms", phone=PHONE)
    await handle(store, table, case)

    await handle(store, table, public_update(case, "The crew found a broken pipe under the road. " * 20))

    text = sent.texts[-1][2]
    assert case.service_request_id in text and text.endswith("…") and sms_segments(text).count <= 4


# --- replies ---------------------------------------------------------------------------------------------


def reply(case: CaseOpened, contact_key: str, text: str = "Which corner exactly?") -> CaseReplyRequested:
    return CaseReplyRequested(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                              actor="u-staff", actor_role="department_staff", reply_id=uuid4(),
                              contact_key=contact_key, text=text, language="en")


async def test_a_reply_reaches_only_the_reporter_named_on_their_channel(store: Any, table: Any, sent: Sent) -> None:
    survivor, joined = await _opened_and_merged(store, table)
    emails = len(sent.emails)
    ask = reply(survivor, "ck-bob")
    env = event(ask, subject=survivor.case_id)

    assert await store.handle(table, env) == "sending,sent"
    assert await store.handle(table, env) == "duplicate"

    assert len(sent.emails) == emails
    channel, to, text = sent.texts[-1]
    assert (channel, to) == ("sms", PHONE) and "Which corner exactly?" in text
    [note] = recorded(store)[-1:]
    assert (note.case_id, note.notice, note.channel) == (joined.case_id, "reply", "sms")


async def test_a_reply_by_email_stays_in_the_thread(store: Any, table: Any, sent: Sent) -> None:
    survivor, _ = await _opened_and_merged(store, table)
    [ack] = sent.emails

    assert await handle(store, table, reply(survivor, "ck-ann")) == "sending,sent"

    mail = sent.emails[-1]
    assert mail["In-Reply-To"] == ack["Message-ID"] and survivor.service_request_id in mail["Subject"]
    assert "311+" + survivor.service_request_id in mail["Reply-To"]


async def test_a_reply_to_an_opted_out_number_is_suppressed_with_the_reason(store: Any, table: Any,
                                                                            sent: Sent) -> None:
    survivor, joined = await _opened_and_merged(store, table)
    await handle(store, table, opt_out())
    texts = len(sent.texts)

    assert await handle(store, table, reply(survivor, "ck-bob")) == "suppressed"

    assert len(sent.texts) == texts
    note = recorded(store)[-1]
    assert (note.case_id, note.notice, note.outcome, note.reason) == (joined.case_id, "reply", "suppressed",
                                                                      "opted out (keyword STOP)")


async def test_a_reply_on_messenger_outside_metas_window_goes_by_email_or_is_suppressed(store: Any, table: Any,
                                                                                        sent: Sent) -> None:
    late = T0 - timedelta(hours=30)
    with_email = opened("messenger", at=late, contact_key="ck-m1", handle="2456", email=ADDRESS)
    without = opened("messenger", at=late, contact_key="ck-m2", handle="7890")
    for case in (with_email, without):
        await handle(store, table, case)
    texts = len(sent.texts)

    assert await handle(store, table, reply(with_email, "ck-m1")) == "sending,sent"
    assert await handle(store, table, reply(without, "ck-m2")) == "suppressed"

    assert len(sent.texts) == texts and "Which corner exactly?" in text_of(sent.emails[-1])
    assert "24 h reply window" in (recorded(store)[-1].reason or "")


async def test_a_reply_to_an_unknown_reporter_sends_nothing(store: Any, table: Any, sent: Sent) -> None:
    survivor, _ = await _opened_and_merged(store, table)
    before = (sent.count(), len(store.emitted()))

    assert await handle(store, table, reply(survivor, "ck-nobody")) == "no_contact"

    assert (sent.count(), len(store.emitted())) == before


# --- unmerge ---------------------------------------------------------------------------------------------


def unmerged(case: CaseOpened, from_case: CaseOpened) -> CaseUnmerged:
    return CaseUnmerged(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                        actor="u-staff", actor_role="department_staff", unmerged_from=from_case.case_id,
                        unmerged_from_service_request_id=from_case.service_request_id, status="open",
                        workflow_status="in_progress", reason="the neighbour's gossip was wrong")


async def test_an_unmerged_reporter_is_told_and_no_longer_hears_of_the_former_survivor(
        store: Any, table: Any, sent: Sent) -> None:
    survivor = opened(contact_key="ck-ann")
    joined = opened(contact_key="ck-zoe", language="fr", email="zoe@resident.test")
    for payload in (survivor, joined, merge(joined, survivor)):
        await handle(store, table, payload)

    assert await handle(store, table, unmerged(joined, survivor)) == "sending,sent"

    mail = sent.emails[-1]
    body = mail.get_body(("plain",)).get_content()
    assert mail["To"] == "zoe@resident.test" and joined.service_request_id in mail["Subject"]
    assert "de nouveau un dossier à part" in mail["Subject"] and survivor.service_request_id in body
    assert "gossip" not in body  # the staff's reason is for the timeline
    assert (recorded(store)[-1].kind, recorded(store)[-1].notice) == ("merged", "unmerged")
    assert store.repo.contacts[joined.case_id].merged_into is None
    emails = len(sent.emails)
    assert await handle(store, table, public_update(survivor)) == "sending,sent"
    assert [m["To"] for m in sent.emails[emails:]] == [ADDRESS]


async def test_an_unmerge_of_a_case_the_notifier_never_saw_tells_no_one(store: Any, table: Any) -> None:
    assert await handle(store, table, unmerged(opened(), opened())) == "no_contact"
    assert store.emitted() == []


# --- workflow status notices -----------------------------------------------------------------------------

TEXTS = {("resolved", "en"): "Your request was resolved.", ("resolved", "fr"): "Votre demande a été réglée.",
         ("waiting_on_resident", "en"): "We need more information from you."}


def moved(case: CaseOpened, to: str, *, status: str = "open", notify: bool = True, notes: str | None = None,
          ) -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case.case_id, service_request_id=case.service_request_id,
                             jurisdiction_id="demo", status=status, status_notes=notes,  # type: ignore[arg-type]
                             workflow_status=to, previous_workflow_status="in_progress", notify=notify)


async def test_a_status_that_notifies_tells_every_reporter_the_workflows_text_in_their_language(
        store: Any, sent: Sent) -> None:
    table = table_for(store, sent, status_texts=TEXTS)
    survivor = opened(contact_key="ck-ann")
    joined = opened(contact_key="ck-zoe", language="fr", email="zoe@resident.test")
    sms = opened("sms", contact_key="ck-bob", phone=PHONE)
    for payload in (survivor, joined, sms, merge(joined, survivor), merge(sms, survivor)):
        await handle(store, table, payload)
    emails = len(sent.emails)

    assert await handle(store, table, moved(survivor, "resolved", status="closed")) == \
        "sending,sending,sending,sent,sent,sent"

    bodies = {str(m["To"]): m.get_body(("plain",)).get_content() for m in sent.emails[emails:]}
    assert "Your request was resolved." in bodies[ADDRESS]
    assert "Votre demande a été réglée." in bodies["zoe@resident.test"]
    assert "Your request was resolved." in sent.texts[-1][2] and survivor.service_request_id in sent.texts[-1][2]
    assert {n.kind for n in recorded(store)[-3:]} == {"closed"}


async def test_a_status_that_does_not_notify_sends_nothing_and_is_remembered(store: Any, sent: Sent) -> None:
    table = table_for(store, sent, status_texts=TEXTS)
    case = opened()
    await handle(store, table, case)
    before = (sent.count(), len(store.emitted()))

    assert await handle(store, table, moved(case, "assigned", notify=False)) == "not_notified"

    assert (sent.count(), len(store.emitted())) == before
    status = store.repo.statuses[case.case_id][0]
    assert (status.workflow_status, status.notify) == ("assigned", False)


async def test_an_old_status_event_without_workflow_keeps_the_generic_closure(store: Any, sent: Sent) -> None:
    table = table_for(store, sent, status_texts=TEXTS)
    case = opened()
    await handle(store, table, case)

    assert await handle(store, table, closed(case)) == "sending,sent"

    body = sent.emails[-1].get_body(("plain",)).get_content()
    assert "is now closed. Notes: Repaired." in body


async def test_a_notifying_status_without_a_text_falls_back_to_the_generic_update(store: Any, sent: Sent) -> None:
    table = table_for(store, sent, status_texts=TEXTS)
    case = opened()
    await handle(store, table, case)

    assert await handle(store, table, moved(case, "cancelled", status="closed", notes="Private land.")) == \
        "sending,sent"

    assert "is now closed. Notes: Private land." in sent.emails[-1].get_body(("plain",)).get_content()


async def test_a_report_merged_after_a_silent_closure_hears_nothing_late(store: Any, sent: Sent) -> None:
    table = table_for(store, sent, status_texts=TEXTS)
    survivor, joined = opened(), opened("sms", phone=PHONE)
    await handle(store, table, survivor)
    await handle(store, table, joined)
    await handle(store, table, moved(survivor, "closed", status="closed", notify=False))

    assert await handle(store, table, merge(joined, survivor)) == "sending,sent"  # the merge notice only


async def test_a_report_merged_after_a_notified_resolution_hears_its_text_late(store: Any, sent: Sent) -> None:
    table = table_for(store, sent, status_texts=TEXTS)
    survivor, joined = opened(), opened("sms", phone=PHONE)
    await handle(store, table, survivor)
    await handle(store, table, joined)
    await handle(store, table, moved(survivor, "resolved", status="closed"))

    assert await handle(store, table, merge(joined, survivor)) == "sending,sending,sent,sent"
    assert "Your request was resolved." in sent.texts[-1][2]


# --- erasure ---------------------------------------------------------------------------------------------


def erased(case: CaseOpened, *contact_keys: str) -> CasePersonalDataErased:
    return CasePersonalDataErased(case_id=case.case_id, service_request_id=case.service_request_id,
                                  jurisdiction_id="demo", contact_keys=list(contact_keys),
                                  closed_at=datetime(2024, 1, 1, tzinfo=UTC), policy_days=730)


async def test_erasure_blanks_the_reporters_addresses_and_keeps_the_delivery_rows(store: Any, table: Any,
                                                                                  sent: Sent) -> None:
    survivor, joined = await _opened_and_merged(store, table)
    other = opened(contact_key="ck-carl", email="carl@resident.test")
    await handle(store, table, other)
    rows = len(store.repo.deliveries)

    store.repo.statuses[survivor.case_id] = (CaseStatus(survivor.case_id, survivor.service_request_id, "closed",
                                                        "Called Ann at 613 555 0123", uuid4()), T0)

    assert await handle(store, table, erased(survivor, "ck-bob")) == "erased"
    assert store.repo.statuses[survivor.case_id][0].status_notes is None

    for case in (survivor, joined):
        c = store.repo.contacts[case.case_id]
        assert (c.email, c.phone, c.handle, c.display_name, c.reply_to_message_id) == (None,) * 5
    assert store.repo.contacts[other.case_id].email == "carl@resident.test"
    assert len(store.repo.deliveries) == rows
    keys = {d["case_id"]: d["recipient_key"] for d in store.repo.deliveries}
    assert keys[survivor.case_id].startswith("erased:") and keys[joined.case_id].startswith("erased:")
    assert not keys[other.case_id].startswith("erased:")
    # nothing more can reach them
    before = sent.count()
    assert await handle(store, table, public_update(survivor)) == "no_contact,no_contact"
    assert sent.count() == before


# --- the sweeper -----------------------------------------------------------------------------------------


async def test_a_delivery_a_crash_left_sending_is_settled_failed_once_and_never_sent_again(
        store: Any, table: Any, sent: Sent) -> None:
    survivor, _ = await _opened_and_merged(store, table)
    update = public_update(survivor)
    env = event(update, subject=survivor.case_id)
    # the crash: the event's unit of work committed its claims, the sends after it never ran
    async with store.uow(env) as uow:
        for contact in await uow.repo.contacts_following(survivor.case_id):
            await uow.repo.claim_delivery(case_id=contact.case_id, cause_event_id=update.update_id,
                                          recipient_key=f"rk-{contact.contact_key}", kind="public_update",
                                          channel="email", status="sending", reason=None, at=T0)
    before = sent.count()
    sweeper = Sweeper(lambda: store.uow(now=T0 + timedelta(minutes=20), claim=False), interval_s=60,
                      older_than_s=900)

    assert await sweeper.sweep() == 2
    assert await sweeper.sweep() == 0

    notes = recorded(store)[-2:]
    assert {(n.outcome, n.notice) for n in notes} == {("failed", "public_update")}
    assert all("interrupted" in (n.reason or "") and n.pii.email is None for n in notes)
    assert [d["status"] for d in store.repo.deliveries if d["cause_event_id"] == update.update_id] == ["failed"] * 2
    assert sent.count() == before


async def test_the_sweeper_leaves_a_recent_claim_alone(store: Any) -> None:
    await store.repo.claim_delivery(case_id=uuid4(), cause_event_id=uuid4(), recipient_key="rk", kind="closed",
                                    channel="sms", status="sending", reason=None, at=T0)
    sweeper = Sweeper(lambda: store.uow(now=T0 + timedelta(minutes=5), claim=False), interval_s=60,
                      older_than_s=900)

    assert await sweeper.sweep() == 0
    assert store.repo.deliveries[0]["status"] == "sending" and store.emitted() == []
