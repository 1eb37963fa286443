"""A delivery's database steps after the commit meet PostgreSQL restarting (issue 14, FAULTS's bug): they are
retried with backoff and the notice is sent once; when they still fail, the row is not left ``sending``
under its live owner: the owner's own sweeper settles it (sent once when never handed over, else failed),
and never a row it is delivering right now. And the sends of a batch run a few at a time, in order per
case (`SendLanes`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import uuid4

import asyncpg

from services.notifier.domain.outcomes import INTERRUPTED, RESENT
from services.notifier.entrypoints.sweeper import Sweeper
from services.notifier.service_layer import handlers as h
from services.notifier.service_layer.lanes import SendLanes
from shared.events import NotificationRecorded
from support.uow import T0, event

from notifier_fakes import PHONE, Sent, opened, table_for

LIVE = uuid4()
SHUTTING_DOWN = asyncpg.CannotConnectNowError("the database system is shutting down")


def recorded(store: Any) -> list[NotificationRecorded]:
    return [e.payload(NotificationRecorded) for e in store.emitted("notification.recorded")]


def failing(store: Any, step: str, times: int) -> None:
    """Make `store.repo.<step>` raise a restart's error `times` times, then work again."""
    kept, left = getattr(store.repo, step), [times]

    async def flaky(*a: Any, **kw: Any) -> Any:
        if left[0] > 0:
            left[0] -= 1
            raise SHUTTING_DOWN
        return await kept(*a, **kw)

    setattr(store.repo, step, flaky)


def own_sweeper(store: Any, sent: Sent, in_flight: set[int], *, minutes: int = 20) -> Sweeper:
    senders = h.Senders(send_email=sent.email, mail_from="311@city.test", mail_from_name="City 311")
    return Sweeper(lambda: store.uow(now=T0 + timedelta(minutes=minutes), claim=False), interval_s=60,
                   older_than_s=900, instance_id=LIVE, senders=senders,
                   record_uow=lambda env, now: store.uow(env, now=now, claim=False), in_flight=in_flight)


async def test_a_restart_during_either_record_of_a_send_is_retried_and_the_notice_sent_once(
        store: Any, sent: Sent) -> None:
    table = table_for(store, sent, instance_id=LIVE, db_retry_s=(0, 0, 0))
    failing(store, "mark_attempted", 2)
    failing(store, "finish_delivery", 3)
    case = opened()

    assert await store.handle(table, event(case, subject=case.case_id)) == "sending,sent"
    assert len(sent.emails) == 1
    assert [d["status"] for d in store.repo.deliveries] == ["sent"]
    assert [n.outcome for n in recorded(store)] == ["sent"]


async def test_a_delivery_that_gave_up_before_its_send_is_sent_once_by_its_live_owners_sweeper(
        store: Any, sent: Sent) -> None:
    in_flight: set[int] = set()
    table = table_for(store, sent, instance_id=LIVE, db_retry_s=(0, 0), in_flight=in_flight)
    failing(store, "mark_attempted", 3)
    case = opened()
    assert await store.handle(table, event(case, subject=case.case_id)) == "sending,after_commit_failed"
    [row] = store.repo.deliveries
    assert (row["status"], row["owner"], row["attempted"], in_flight) == ("sending", LIVE, False, set())
    sweeper = own_sweeper(store, sent, in_flight)
    await sweeper.beat()  # the owner lives: no other replica would ever take the row

    assert await own_sweeper(store, sent, in_flight, minutes=10).sweep() == 0  # not yet past the timeout
    assert await sweeper.sweep() == 1
    assert await sweeper.sweep() == 0
    assert len(sent.emails) == 1 and row["status"] == "sent"
    assert [(n.outcome, n.reason) for n in recorded(store)] == [("sent", RESENT)]


async def test_a_delivery_that_gave_up_after_its_send_is_recorded_failed_by_its_owners_sweeper_never_resent(
        store: Any, sent: Sent) -> None:
    in_flight: set[int] = set()
    table = table_for(store, sent, instance_id=LIVE, db_retry_s=(0,), in_flight=in_flight)
    failing(store, "finish_delivery", 2)
    store.repo.clock = T0  # attempted at the claim
    msg = opened("sms", phone=PHONE)
    assert await store.handle(table, event(msg, subject=msg.case_id)) == "sending,after_commit_failed"

    assert await own_sweeper(store, sent, in_flight).sweep() == 1
    assert sent.count() == 1  # it went out; Twilio takes no idempotency key: never twice
    assert [(n.outcome, n.reason) for n in recorded(store)] == [("failed", INTERRUPTED)]


async def test_the_owners_sweeper_leaves_alone_what_it_is_delivering_however_old(store: Any, sent: Sent) -> None:
    in_flight: set[int] = set()
    store.repo.clock = T0
    sweeper = own_sweeper(store, sent, in_flight)
    seen: list[int] = []

    async def slow_email(message: Any) -> None:  # the send outlives the timeout; the sweeper runs meanwhile
        seen.append(await sweeper.sweep())
        sent.emails.append(message)

    sent.email = slow_email  # type: ignore[method-assign]
    table = table_for(store, sent, instance_id=LIVE, in_flight=in_flight)
    case = opened()

    assert await store.handle(table, event(case, subject=case.case_id)) == "sending,sent"
    assert seen == [0] and in_flight == set()
    assert [n.outcome for n in recorded(store)] == ["sent"]


async def test_send_lanes_run_a_few_sends_at_once_in_order_per_case() -> None:
    lanes = SendLanes(3)
    running, peak, done = [0], [0], []

    async def send(case: str, i: int) -> str:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        await asyncio.sleep(0.01 if i % 2 else 0.02)
        running[0] -= 1
        done.append((case, i))
        return "sent"

    for i in range(12):
        for case in ("a", "b", "c", "d"):
            assert await lanes.submit(case, lambda case=case, i=i: send(case, i)) == "queued"
    await lanes.drain()

    assert peak[0] <= 3 and len(done) == 48 and lanes.busy() == 0
    for case in "abcd":
        assert [i for c, i in done if c == case] == list(range(12))


async def test_a_failing_send_task_is_logged_and_its_lane_goes_on() -> None:
    lanes = SendLanes(2)
    done: list[int] = []

    async def boom() -> str:
        raise SHUTTING_DOWN

    async def ok(i: int) -> str:
        done.append(i)
        return "sent"

    await lanes.submit("a", boom)
    await lanes.submit("a", lambda: ok(1))
    await lanes.drain()
    assert done == [1]


async def test_a_batchs_claims_are_sent_through_the_lanes_after_the_commit(store: Any, sent: Sent) -> None:
    lanes, in_flight = SendLanes(8), set[int]()
    table = table_for(store, sent, instance_id=LIVE, lanes=lanes, in_flight=in_flight)
    cases = [opened() for _ in range(5)]

    outcomes = await store.handle_batch(table, [event(c, subject=c.case_id) for c in cases])
    assert [o.result for o in outcomes] == ["sending,queued"] * 5
    assert in_flight == {1, 2, 3, 4, 5}  # waiting for their turn: this process's sweeper leaves them alone
    await lanes.drain()
    assert in_flight == set()
    assert len(sent.emails) == 5 and {d["status"] for d in store.repo.deliveries} == {"sent"}
    assert sorted(n.case_id for n in recorded(store)) == sorted(c.case_id for c in cases)


async def test_a_resend_by_the_owners_sweeper_is_in_flight_until_recorded(store: Any, sent: Sent) -> None:
    in_flight: set[int] = set()
    table = table_for(store, sent, instance_id=LIVE, db_retry_s=(), in_flight=in_flight)
    failing(store, "mark_attempted", 1)
    case = opened()
    assert await store.handle(table, event(case, subject=case.case_id)) == "sending,after_commit_failed"
    during: list[set[int]] = []
    sweeper = own_sweeper(store, sent, in_flight)
    email = sent.email

    async def watched(message: Any) -> None:
        during.append(set(in_flight))
        await email(message)

    assert sweeper.senders is not None
    sweeper.senders = h.Senders(send_email=watched, mail_from="311@city.test", mail_from_name="City 311")
    assert await sweeper.sweep() == 1
    assert during == [{1}] and in_flight == set() and len(sent.emails) == 1
