"""Webhooks handlers, admin actions and the delivery on an in-memory unit of work: an event makes one message
per matching subscription (never twice for a redelivered event), scrubbed unless personal data is granted;
a case of another department makes none; a failing message holds back the later ones of its subscription
and is retried after its backoff; repeated failures pause the subscription, a resume sends the rest in
order; a redelivery sends a time range again with the same webhook-ids; an erasure removes the personal data
kept in earlier messages; unknown filters are refused."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
import standardwebhooks.webhooks
from standardwebhooks.webhooks import Webhook
from webhooks_fakes import FakeWebhooksRepository

from services.webhooks.config import department_of
from services.webhooks.domain import Outcome, RetryPolicy, new_secret
from services.webhooks.service_layer import admin, delivery
from services.webhooks.service_layer import handlers as h
from shared.contacts import scrub_contacts
from shared.events import CaseOpened, CasePersonalDataErased, CaseRouted, CaseStatusChanged, RoutingFields
from shared.jurisdiction import load_jurisdiction
from support.uow import T0, FakeStore, event

DEMO = load_jurisdiction("demo")
KNOWN = admin.Known(event_types=frozenset({"case.opened", "case.routed", "case.status_changed",
                                           "case.personal_data_erased"}),
                    departments=frozenset(d.id for d in DEMO.departments),
                    service_codes=frozenset(s.service_code for s in DEMO.services))
POLICY = RetryPolicy(base_s=10, max_s=100, pause_after=3)
CASE = {"service_request_id": "DEMO-26-000001", "jurisdiction_id": "demo"}


@pytest.fixture
def store() -> FakeStore[FakeWebhooksRepository]:
    return FakeStore(FakeWebhooksRepository(), "webhooks")


@pytest.fixture
def table() -> Any:
    wakes: list[int] = []
    making = h.Making(department_of=department_of(DEMO), scrub=lambda t: scrub_contacts(t, "CA"),
                      pii_paths=h.registry_pii_paths, wake=lambda: wakes.append(1))
    return h.handlers(making)


async def subscribe(store: FakeStore[FakeWebhooksRepository], *types: str, departments: list[str] | None = None,
                    personal_data: bool = False) -> UUID:
    sub = await admin.create(store.uow(), sub_id=uuid4(), url="https://example.org/hook", event_types=list(types),
                             service_codes=[], departments=departments or [], personal_data=personal_data,
                             description="", secret=new_secret(b"s" * 24), known=KNOWN)
    return sub.id


def opened(case_id: UUID, text: str = "Pothole, call 613-555-0123") -> CaseOpened:
    return CaseOpened(case_id=case_id, **CASE, channel="email", channel_message_id="<m@x.org>", contact_key="ck_1",
                      service_code="pothole", description=text, requested_datetime=T0,
                      pii={"email": "ann@example.org"})


def routed(case_id: UUID, queue: str = "roads", code: str = "pothole") -> CaseRouted:
    fields = RoutingFields(service_code=code, service_name=code, category_source="service_code",
                           agency_responsible="?", queue=queue, priority=3, rule_id="r", config_version="1")
    return CaseRouted(case_id=case_id, **CASE, routing=fields, description="Pothole", requested_datetime=T0)


def changed(case_id: UUID, status: str = "in_progress") -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case_id, **CASE, status="open", workflow_status=status)


def waiting(store: FakeStore[FakeWebhooksRepository], sub_id: UUID) -> list[dict[str, Any]]:
    return [m for m in store.repo.messages.values() if m["subscription_id"] == sub_id]


# --- messages made from events ----------------------------------------------------------------------------


async def test_each_event_makes_one_message_per_matching_subscription_and_never_twice(store, table) -> None:
    works = await subscribe(store, "case.routed", "case.status_changed", departments=["public-works"])
    water = await subscribe(store, "case.routed", departments=["water"])
    case = uuid4()
    env = event(routed(case), subject=case)
    assert await store.handle(table, env) == "queued:1"
    assert await store.handle(table, env) == "duplicate"
    assert await store.handle(table, event(changed(case), subject=case)) == "queued:1"
    assert [m["event_type"] for m in waiting(store, works)] == ["case.routed", "case.status_changed"]
    assert waiting(store, water) == [], "a case of another department"
    msg = waiting(store, works)[0]
    assert msg["webhook_id"] == f"msg_{env.event_id.hex}_{works}"
    assert msg["body"]["type"] == "case.routed" and msg["body"]["subject"] == str(case)


async def test_an_event_before_routing_reaches_only_subscriptions_without_a_department(store, table) -> None:
    works = await subscribe(store, "case.opened", departments=["public-works"])
    everyone = await subscribe(store, "case.opened")
    case = uuid4()
    assert await store.handle(table, event(opened(case), subject=case)) == "queued:1"
    assert waiting(store, works) == [] and len(waiting(store, everyone)) == 1


async def test_personal_data_only_where_granted_and_erased_later(store, table) -> None:
    public = await subscribe(store, "case.opened", "case.personal_data_erased")
    granted = await subscribe(store, "case.opened", personal_data=True)
    case = uuid4()
    await store.handle(table, event(opened(case), subject=case))
    (pub,), (full,) = waiting(store, public), waiting(store, granted)
    assert "pii" not in pub["body"]["data"] and pub["body"]["data"]["description"] == "Pothole, call [phone]"
    assert full["body"]["data"]["pii"]["email"] == "ann@example.org"
    erased = CasePersonalDataErased(case_id=case, **CASE, contact_keys=["ck_1"], closed_at=T0, policy_days=30)
    await store.handle(table, event(erased, subject=case))
    assert "pii" not in full["body"]["data"] and "613-555" not in str(full["body"])
    assert full["personal_data"] is False


async def test_a_failing_handler_makes_nothing(store, table) -> None:
    await subscribe(store, "case.routed")

    async def broken(*_: Any) -> int:
        raise RuntimeError("database down")

    store.repo.add_messages = broken  # type: ignore[method-assign]
    case = uuid4()
    with pytest.raises(RuntimeError):
        await store.handle(table, event(routed(case), subject=case))
    assert store.repo.messages == {} and store.inbox == set()


# --- delivery: order, backoff, pause, resume, redelivery -------------------------------------------------


class AttemptClock(datetime):
    """The reference library's clock during a simulated attempt: it checks the timestamp against `at`."""

    at: datetime | None = None

    @classmethod
    def now(cls, tz: Any = None) -> Any:  # noqa: ANN401 - datetime's own signature
        return cls.at or datetime.now(tz)


@pytest.fixture(autouse=True)
def attempt_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(standardwebhooks.webhooks, "datetime", AttemptClock)


class Receiver:
    """Answers with `statuses` (then 200), verifying every signature with the reference library at the
    attempt's (simulated) time."""

    def __init__(self, secret: str, statuses: list[int]) -> None:
        self.secret, self.statuses, self.got = secret, statuses, []

    async def send(self, url: str, headers: dict[str, str], body: str) -> Outcome:
        payload = Webhook(self.secret).verify(body, headers)
        status = self.statuses.pop(0) if self.statuses else 200
        self.got.append((headers["webhook-id"], payload["type"], status))
        return Outcome(http_status=status, error=None if status < 300 else f"HTTP {status}", duration_ms=1)


async def deliver_round(store: FakeStore[FakeWebhooksRepository], receiver: Receiver, now: Any) -> int:
    claimed = await delivery.claim(store.uow(now=now, claim=False), batch=10, lease_s=60, token=uuid4())
    AttemptClock.at = now
    for c in claimed:
        outcome = await delivery.attempt(c, receiver.send, now)
        await delivery.record(store.uow(now=now, claim=False), c, outcome, attempted_at=now, policy=POLICY, jitter=0)
    return len(claimed)


async def test_a_failing_message_holds_back_the_later_ones_and_is_retried_after_its_backoff(store, table) -> None:
    sub_id = await subscribe(store, "case.routed", "case.status_changed")
    case = uuid4()
    for e in (routed(case), changed(case, "assigned"), changed(case, "in_progress")):
        await store.handle(table, event(e, subject=case))
    receiver = Receiver(store.repo.subs[sub_id].secret, [500])
    now = _now()
    assert await deliver_round(store, receiver, now) == 1
    assert await deliver_round(store, receiver, now + timedelta(seconds=5)) == 0, "backoff: 10 s"
    for i in range(1, 4):
        assert await deliver_round(store, receiver, now + timedelta(seconds=10 + i)) == 1
    ids = [m["webhook_id"] for m in sorted(waiting(store, sub_id), key=lambda m: m["id"])]
    assert [g[0] for g in receiver.got] == [ids[0], ids[0], ids[1], ids[2]], "in message order, the first twice"
    log = await admin.deliveries(store.uow(), sub_id, outcome=None, limit=10)
    assert [(r.attempt, r.outcome) for r in reversed(log)] == [(1, "failed"), (2, "delivered"), (1, "delivered"),
                                                                (1, "delivered")]
    assert log[-1].next_attempt_at == now + timedelta(seconds=10) and log[-1].error == "HTTP 500"


async def test_repeated_failures_pause_the_subscription_until_an_administrator_resumes_it(store, table) -> None:
    sub_id = await subscribe(store, "case.routed", "case.status_changed")
    case = uuid4()
    await store.handle(table, event(routed(case), subject=case))
    await store.handle(table, event(changed(case), subject=case))
    receiver = Receiver(store.repo.subs[sub_id].secret, [503, 503, 503])
    now = _now()
    for step in (0, 11, 32):  # backoffs 10 s, 20 s
        assert await deliver_round(store, receiver, now + timedelta(seconds=step)) == 1
    assert store.repo.subs[sub_id].status == "paused" and store.repo.subs[sub_id].last_error == "HTTP 503"
    assert await deliver_round(store, receiver, now + timedelta(hours=2)) == 0, "paused: nothing is sent"
    await store.handle(table, event(changed(case, "resolved"), subject=case))
    assert len(waiting(store, sub_id)) == 3, "a paused subscription keeps queueing"
    resumed, count = await admin.resume(store.uow(now=now + timedelta(hours=2)), sub_id)
    assert resumed.status == "active" and count == 3 and store.repo.subs[sub_id].consecutive_failures == 0
    later = now + timedelta(hours=2)
    while await deliver_round(store, receiver, later):
        pass
    assert [g[1] for g in receiver.got if g[2] == 200] == ["case.routed", "case.status_changed", "case.status_changed"]


async def test_a_redelivery_sends_the_range_again_with_the_same_webhook_ids(store, table) -> None:
    sub_id = await subscribe(store, "case.routed", "case.status_changed")
    case = uuid4()
    await store.handle(table, event(routed(case), subject=case, now=T0))
    await store.handle(table, event(changed(case), subject=case, now=T0 + timedelta(minutes=5)))
    receiver = Receiver(store.repo.subs[sub_id].secret, [])
    now = _now()
    while await deliver_round(store, receiver, now):
        pass
    first = [g[0] for g in receiver.got]
    count = await admin.redeliver(store.uow(now=now), sub_id, since=T0 + timedelta(minutes=1),
                                  until=T0 + timedelta(minutes=10))
    assert count == 1
    while await deliver_round(store, receiver, now):
        pass
    assert [g[0] for g in receiver.got] == [*first, first[1]]
    with pytest.raises(admin.Invalid):
        await admin.redeliver(store.uow(), sub_id, since=T0, until=T0)


async def test_a_lost_lease_is_logged_without_changing_the_message(store, table) -> None:
    sub_id = await subscribe(store, "case.routed")
    case = uuid4()
    await store.handle(table, event(routed(case), subject=case))
    now = _now()
    (stale,) = await delivery.claim(store.uow(now=now, claim=False), batch=5, lease_s=1, token=uuid4())
    (fresh,) = await delivery.claim(store.uow(now=now + timedelta(seconds=2), claim=False), batch=5, lease_s=60,
                                    token=uuid4())
    await delivery.record(store.uow(claim=False), stale, Outcome(200, None, 1), attempted_at=now, policy=POLICY,
                          jitter=0)
    assert waiting(store, sub_id)[0]["status"] == "waiting", "the other process holds it now"
    await delivery.record(store.uow(claim=False), fresh, Outcome(200, None, 1), attempted_at=now, policy=POLICY,
                          jitter=0)
    assert waiting(store, sub_id)[0]["status"] == "delivered" and len(store.repo.attempts) == 2


# --- admin ----------------------------------------------------------------------------------------------


async def test_unknown_event_types_departments_and_codes_are_refused_and_nothing_is_kept(store) -> None:
    with pytest.raises(admin.Invalid, match=r"unknown event types \['case.nope'\]"):
        await subscribe(store, "case.nope")
    with pytest.raises(admin.Invalid, match="unknown departments"):
        await subscribe(store, "case.routed", departments=["mars"])
    with pytest.raises(admin.Invalid, match="at least one"):
        await subscribe(store)
    assert store.repo.subs == {}


async def test_a_rotation_keeps_the_old_secret_signing_for_the_overlap(store, table) -> None:
    sub_id = await subscribe(store, "case.routed")
    old = store.repo.subs[sub_id].secret
    new = new_secret(b"n" * 24)
    now = _now()
    _, until = await admin.rotate_secret(store.uow(now=now), sub_id, secret=new, overlap_s=3600)
    assert until == now + timedelta(hours=1)
    case = uuid4()
    await store.handle(table, event(routed(case), subject=case))
    for secret in (old, new):
        receiver = Receiver(secret, [])
        store.repo.messages[1].update(status="waiting", lease_until=None)
        assert await deliver_round(store, receiver, now) == 1, secret


def _now() -> datetime:
    return T0 + timedelta(days=1)
