"""The notifier's rule for a crash around a send (issue 14; services/notifier/README.md, "Crashes"): the
inbox claim and the delivery row commit together; a row left ``sending`` by a dead process is settled
``failed`` once and published, never resent; a live process's slow send is never settled under it; an
email's Message-ID is its delivery's, the same for every copy."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from uuid import uuid4

import pytest

from services.notifier.domain.messages import delivery_message_id
from services.notifier.domain.outcomes import INTERRUPTED
from services.notifier.entrypoints.sweeper import Sweeper
from shared.events import NotificationRecorded
from support.uow import T0, event

from notifier_fakes import Sent, opened, table_for

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
    live = Sweeper(lambda: store.uow(now=T0 + timedelta(minutes=20), claim=False), interval_s=60,
                   older_than_s=30, instance_id=LIVE)

    assert live.interval_s == 10  # three beats per timeout at least, whatever the interval
    assert await live.sweep() == 2
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
