"""The notifier's rule for a crash around a send (issue 14; services/notifier/README.md, "Crashes"): the
inbox claim and the delivery row commit together; a row left ``sending`` by a dead process is sent once by
another replica when it was never handed to a provider, else settled ``failed`` once and published, never
resent; a live process's slow send is never settled under it; an email's Message-ID is its delivery's,
the same for every copy."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from uuid import uuid4

import pytest

from services.notifier.domain.messages import delivery_message_id
from services.notifier.domain.outcomes import INTERRUPTED, RESENT
from services.notifier.entrypoints.sweeper import Sweeper
from services.notifier.service_layer import handlers as h
from shared.events import NotificationRecorded
from support.uow import T0, event

from notifier_fakes import PHONE, Sent, opened, table_for

LIVE, DEAD = uuid4(), uuid4()


def recorded(store: Any) -> list[NotificationRecorded]:
    return [e.payload(NotificationRecorded) for e in store.emitted("notification.recorded")]


async def test_a_crash_after_the_delivery_claim_rolls_back_the_inbox_claim_too_so_the_redelivery_sends_once(
        store: Any, table: Any, sent: Sent) -> None:
    case = opened()
    env = event(case, subject=case.case_id)
    claim = store.repo.claim_delivery

    async def claim_then_die(**kw: Any) -> int | None:
        await claim(**kw)
        raise ConnectionResetError("the process died after writing the delivery row, before the commit")

    store.repo.claim_delivery = claim_then_die
    with pytest.raises(ConnectionResetError):
        await store.handle(table, env)
    assert store.repo.deliveries == [] and store.inbox == set() and sent.count() == 0

    store.repo.claim_delivery = claim  # the redelivered event is not a duplicate: it is handled whole, once
    assert await store.handle(table, env) == "sending,sent"
    assert await store.handle(table, env) == "duplicate"
    assert len(sent.emails) == 1 and [n.outcome for n in recorded(store)] == ["sent"]


async def test_only_a_silent_owners_claims_are_settled_however_old_a_live_ones_are(store: Any) -> None:
    for owner, rk in ((LIVE, "rk-live"), (DEAD, "rk-dead"), (None, "rk-unowned")):
        await store.repo.claim_delivery(case_id=uuid4(), cause_event_id=uuid4(), recipient_key=rk,
                                        kind="acknowledgement", channel="email", status="sending", reason=None,
                                        at=T0, owner=owner)
    await Sweeper(lambda: store.uow(now=T0, claim=False), interval_s=60, older_than_s=30,
                  instance_id=DEAD).sweep()  # the dead one beat once, at T0, then died
    store.repo.beats[LIVE] = T0 + timedelta(minutes=20)  # LIVE beats on; another replica sweeps
    other = Sweeper(lambda: store.uow(now=T0 + timedelta(minutes=20), claim=False), interval_s=60,
                    older_than_s=30, instance_id=uuid4())

    assert other.interval_s == 10  # three beats per timeout at least, whatever the interval
    assert await other.sweep() == 2
    assert {d["recipient_key"]: d["status"] for d in store.repo.deliveries} == {
        "rk-live": "sending", "rk-dead": "failed", "rk-unowned": "failed"}
    assert {(n.outcome, n.reason) for n in recorded(store)} == {("failed", INTERRUPTED)}


async def test_a_send_that_ends_after_the_sweeper_settled_it_records_nothing_more(store: Any, sent: Sent) -> None:
    sweeper = Sweeper(lambda: store.uow(now=T0 + timedelta(minutes=20), claim=False), interval_s=60,
                      older_than_s=900)

    async def slow_email(message: EmailMessage) -> None:
        assert await sweeper.sweep() == 1  # the process was silent too long: taken for dead meanwhile
        sent.emails.append(message)

    sent.email = slow_email  # type: ignore[method-assign]
    table = table_for(store, sent)
    case = opened()

    assert await store.handle(table, event(case, subject=case.case_id)) == "sending,settled_before"
    [note] = recorded(store)
    assert (note.outcome, note.reason) == ("failed", INTERRUPTED)  # one outcome per delivery
    assert [d["status"] for d in store.repo.deliveries] == ["failed"]


async def test_an_email_has_its_deliverys_message_id_whoever_sends_it() -> None:
    cause = uuid4()
    first = delivery_message_id(42, cause, "city-311@omni311.test")

    assert first == delivery_message_id(42, cause, "city-311@omni311.test") == f"<omni311.d42.{cause.hex}@omni311.test>"
    assert delivery_message_id(42, uuid4(), "city-311@omni311.test") != first  # a rebuilt database's delivery 42
    assert delivery_message_id(7, cause, "311").endswith("@localhost>")


def _survivor_sweeper(store: Any, sent: Sent, *, minutes: int = 20) -> Sweeper:
    senders = h.Senders(send_email=sent.email, mail_from="311@city.test", mail_from_name="City 311")
    return Sweeper(lambda: store.uow(now=T0 + timedelta(minutes=minutes), claim=False), interval_s=60,
                   older_than_s=900, instance_id=LIVE, senders=senders,
                   record_uow=lambda env, now: store.uow(env, now=now, claim=False))


async def _killed_after_commit(store: Any, sent: Sent, case: Any, *, before_send: bool) -> None:
    """Handle `case` on a process (DEAD) that dies after the event's commit: before marking the send
    (nothing left), or after the send, before its record (it went out)."""
    step = "mark_attempted" if before_send else "finish_delivery"
    kept = getattr(store.repo, step)

    async def die(*_a: Any, **_kw: Any) -> bool:
        raise ConnectionResetError("SIGKILL")

    setattr(store.repo, step, die)
    assert await store.handle(table_for(store, sent, instance_id=DEAD, db_retry_s=()),  # killed: no retry
                              event(case, subject=case.case_id)) \
        == "sending,after_commit_failed"
    setattr(store.repo, step, kept)
    assert [d["status"] for d in store.repo.deliveries] == ["sending"]
    assert sent.count() == (0 if before_send else 1)


async def test_a_delivery_its_dead_owner_never_handed_over_is_sent_once_by_another_replica(
        store: Any, sent: Sent) -> None:
    case = opened()
    await _killed_after_commit(store, sent, case, before_send=True)
    sweeper = _survivor_sweeper(store, sent)

    assert await sweeper.sweep() == 1
    assert await sweeper.sweep() == 0

    [mail] = sent.emails
    [row] = store.repo.deliveries
    assert mail["Message-ID"] == delivery_message_id(row["id"], row["cause_event_id"], "311@city.test")
    assert mail["To"] == case.pii.email and case.service_request_id in mail["Subject"]
    assert mail["In-Reply-To"] == case.channel_message_id  # the same message the dead owner would have sent
    assert (row["status"], row["owner"], row["intent"]) == ("sent", LIVE, None)  # its PII gone with the intent
    [note] = recorded(store)
    assert (note.outcome, note.reason, note.provider_message_id) == ("sent", RESENT, mail["Message-ID"])
    assert note.pii.email is None


async def test_a_text_its_dead_owner_handed_to_the_provider_is_recorded_failed_and_never_sent_twice(
        store: Any, sent: Sent) -> None:
    await _killed_after_commit(store, sent, opened("sms", phone=PHONE), before_send=False)

    assert await _survivor_sweeper(store, sent).sweep() == 1

    assert sent.count() == 1  # it went out before the kill; Twilio takes no idempotency key: never twice
    [note] = recorded(store)
    assert (note.outcome, note.reason, note.channel) == ("failed", INTERRUPTED, "sms")
    assert [d["status"] for d in store.repo.deliveries] == ["failed"]


async def test_a_dead_owners_delivery_is_left_to_its_owner_until_it_has_been_silent_long_enough(
        store: Any, sent: Sent) -> None:
    await _killed_after_commit(store, sent, opened(), before_send=True)
    await Sweeper(lambda: store.uow(now=T0 + timedelta(minutes=1), claim=False), interval_s=60,
                  older_than_s=900, instance_id=DEAD).sweep()  # it beat a minute after the claim

    assert await _survivor_sweeper(store, sent, minutes=10).sweep() == 0  # silent 9 minutes of 15
    assert await _survivor_sweeper(store, sent, minutes=17).sweep() == 1
    assert len(sent.emails) == 1


async def test_the_beat_alone_keeps_a_busy_process_alive(store: Any, sent: Sent) -> None:
    await store.repo.claim_delivery(case_id=uuid4(), cause_event_id=uuid4(), recipient_key="rk", kind="closed",
                                    channel="email", status="sending", reason=None, at=T0, owner=LIVE)
    # the live process's sweep loop is busy (resending); its beat loop runs on its own
    await Sweeper(lambda: store.uow(now=T0 + timedelta(minutes=20), claim=False), interval_s=60, older_than_s=900,
                  instance_id=LIVE).beat()

    other = Sweeper(lambda: store.uow(now=T0 + timedelta(minutes=20), claim=False), interval_s=60,
                    older_than_s=900, instance_id=DEAD)
    assert await other.sweep() == 0 and store.repo.deliveries[0]["status"] == "sending"


def test_a_kept_french_email_is_sent_with_its_headers_encoded_as_composed() -> None:
    """The intent keeps the email in its UTF-8 form; parsed back, a raw 'é' in the subject made every French
    acknowledgement fail at the send with UnicodeEncodeError (the Montréal replay)."""
    from email import message_from_bytes
    from email import policy as email_policy
    from email.message import EmailMessage as Composed

    from services.notifier.service_layer.handlers import _KEPT, email_from_intent

    composed = Composed(policy=email_policy.default)
    composed["Subject"] = "Votre demande 311-000123 a été reçue — ça suit son cours"
    composed["From"] = "Ville 311 <city311@omni311.test>"
    composed["To"] = "Éloïse Tremblay <eloise@resident.test>"
    composed.set_content("Bonjour, nous avons reçu votre demande.\n")
    message = email_from_intent(composed.as_string(policy=_KEPT))
    message["Message-ID"] = "<omni311.d1.x@omni311.test>"
    wire = message.as_bytes()  # what an SMTP client without SMTPUTF8 writes
    assert wire.isascii()
    received = message_from_bytes(wire, policy=email_policy.default)
    assert str(received["Subject"]) == str(composed["Subject"]) and str(received["To"]) == str(composed["To"])
    assert received.get_content() == composed.get_content()
