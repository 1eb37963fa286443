"""The webhooks service's SQL on real PostgreSQL, through the real unit of work: an event claimed twice makes
its messages once; two delivery processes claiming at once never lease the same subscription twice, and
only a subscription's lowest waiting message; a lease outlived is taken over; failures back off and pause,
the resume makes the waiting messages due, a redelivery makes a time range wait again, the log reads newest
first, the figures count, an erasure rewrites the kept personal data, and old rows are pruned."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.webhooks.adapters.repository import WebhooksRepository
from services.webhooks.config import department_of
from services.webhooks.domain import Outcome, RetryPolicy, new_secret
from services.webhooks.domain.records import NewMessage
from services.webhooks.service_layer import admin, delivery
from services.webhooks.service_layer import handlers as h
from shared.contacts import scrub_contacts
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CaseOpened, CasePersonalDataErased, CaseRouted, CaseStatusChanged, Envelope, RoutingFields
from shared.jurisdiction import load_jurisdiction
from shared.kafka import Delivery
from shared.service_layer import dispatch

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DEMO = load_jurisdiction("demo")
KNOWN = admin.Known(event_types=frozenset({"case.opened", "case.routed", "case.status_changed"}),
                    departments=frozenset(d.id for d in DEMO.departments), service_codes=frozenset())
POLICY = RetryPolicy(base_s=10, max_s=100, pause_after=2)
CASE = {"service_request_id": "DEMO-26-000001", "jurisdiction_id": "demo"}
TABLE = h.handlers(h.Making(department_of=department_of(DEMO), scrub=lambda t: scrub_contacts(t, "CA"),
                            pii_paths=h.registry_pii_paths))


@pytest.fixture
def migrated_package() -> str:
    return "services.webhooks"


class Db:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool, self.schema, self.offset = pool, schema, 0

    def uow(self, now: datetime = T0, envelope: Envelope | None = None) -> PgUnitOfWork[WebhooksRepository]:
        self.offset += 1
        return PgUnitOfWork(self.pool, service=self.schema, repository=WebhooksRepository, now=now, envelope=envelope,
                            delivery=Delivery(topic="cases.lifecycle", partition=0, offset=self.offset, consumer="webhooks")
                            if envelope else None)

    async def handle(self, payload: Any, *, at: datetime = T0) -> str | None:
        env = Envelope.new_flow(payload, subject=str(payload.case_id), producer="case", now=at)
        return await self.consume(env)

    async def consume(self, env: Envelope) -> str | None:
        return await dispatch(TABLE, env, lambda: self.uow(envelope=env))

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return [dict(r) for r in await conn.fetch(sql, *args)]


@pytest.fixture
def db(service_pool: asyncpg.Pool, fresh_schema_name: str) -> Db:
    return Db(service_pool, fresh_schema_name)


async def subscribe(db: Db, *types: str, departments: list[str] | None = None, personal_data: bool = False) -> UUID:
    sub = await admin.create(db.uow(), sub_id=uuid4(), url="https://example.org/hook", event_types=list(types),
                             service_codes=[], departments=departments or [], personal_data=personal_data,
                             description="", secret=new_secret(b"s" * 24), known=KNOWN)
    return sub.id


def routed(case_id: UUID, queue: str = "roads") -> CaseRouted:
    fields = RoutingFields(service_code="pothole", service_name="Pothole", category_source="service_code",
                           agency_responsible="?", queue=queue, priority=3, rule_id="r", config_version="1")
    return CaseRouted(case_id=case_id, **CASE, routing=fields, description="Pothole", requested_datetime=T0)


def changed(case_id: UUID, status: str) -> CaseStatusChanged:
    return CaseStatusChanged(case_id=case_id, **CASE, status="open", workflow_status=status)


async def test_an_event_makes_its_messages_once_and_keeps_the_case_facts(db: Db) -> None:
    works = await subscribe(db, "case.routed", departments=["public-works"])
    await subscribe(db, "case.routed", departments=["water"])
    case = uuid4()
    env = Envelope.new_flow(routed(case), subject=str(case), producer="case", now=T0)
    assert await db.consume(env) == "queued:1"
    assert await db.consume(env) == "duplicate"
    msgs = await db.rows("SELECT subscription_id, webhook_id, body, status FROM messages")
    assert [(m["subscription_id"], m["status"]) for m in msgs] == [(works, "waiting")]
    assert msgs[0]["webhook_id"] == f"msg_{env.event_id.hex}_{works}" and msgs[0]["body"]["type"] == "case.routed"
    assert await db.rows("SELECT service_code, department FROM cases") == [
        {"service_code": "pothole", "department": "public-works"}]
    async with db.uow() as uow:  # the same (event, subscription) is never made twice, even by hand
        again = await uow.repo.add_messages(
            [NewMessage(subscription_id=works, event_id=env.event_id, event_type="case.routed", case_id=case,
                          occurred_at=T0, webhook_id="x", body={}, personal_data=False)], T0)
    assert again == 0


async def test_two_processes_never_lease_the_same_subscription_and_only_its_head(db: Db) -> None:
    subs = [await subscribe(db, "case.routed", "case.status_changed") for _ in range(3)]
    case = uuid4()
    await db.handle(routed(case))
    await db.handle(changed(case, "assigned"))
    now = T0 + timedelta(minutes=1)
    first, second = await asyncio.gather(
        delivery.claim(db.uow(now), batch=10, lease_s=60, token=uuid4()),
        delivery.claim(db.uow(now), batch=10, lease_s=60, token=uuid4()))
    leased = [c.subscription_id for c in first + second]
    assert sorted(leased) == sorted(subs), "each subscription once, whichever process took it"
    assert all(c.body["type"] == "case.routed" for c in first + second), "only the head of each"
    assert await delivery.claim(db.uow(now), batch=10, lease_s=60, token=uuid4()) == [], "all leased"
    taken = await delivery.claim(db.uow(now + timedelta(seconds=61)), batch=10, lease_s=60, token=uuid4())
    assert len(taken) == 3, "a lease outlived is taken over"
    lost = await delivery.record(db.uow(now), (first + second)[0], Outcome(200, None, 5), attempted_at=now,
                                 policy=POLICY, jitter=0)
    assert lost.delivered
    rows = await db.rows("SELECT status FROM messages WHERE id = $1", (first + second)[0].message_id)
    assert rows == [{"status": "waiting"}], "the stale lease changed nothing but the log"


async def test_failures_back_off_pause_and_a_resume_and_a_redelivery_make_messages_due(db: Db) -> None:
    sub_id = await subscribe(db, "case.routed", "case.status_changed")
    case = uuid4()
    await db.handle(routed(case), at=T0)
    await db.handle(changed(case, "in_progress"), at=T0 + timedelta(minutes=10))
    now = T0 + timedelta(hours=1)
    (c,) = await delivery.claim(db.uow(now), batch=5, lease_s=60, token=uuid4())
    after = await delivery.record(db.uow(now), c, Outcome(500, "HTTP 500", 7), attempted_at=now, policy=POLICY,
                                  jitter=0)
    assert after.next_attempt_at == now + timedelta(seconds=10) and not after.pause
    assert await delivery.claim(db.uow(now + timedelta(seconds=9)), batch=5, lease_s=60, token=uuid4()) == []
    later = now + timedelta(seconds=10)
    (c,) = await delivery.claim(db.uow(later), batch=5, lease_s=60, token=uuid4())
    assert c.failures == 1 and c.attempts == 1
    assert (await delivery.record(db.uow(later), c, Outcome(None, "ConnectError", 3), attempted_at=later,
                                  policy=POLICY, jitter=0)).pause
    (sub,) = await admin.read_all(db.uow())
    assert (sub.status, sub.consecutive_failures, sub.last_error) == ("paused", 2, "ConnectError")
    assert (await delivery.figures(db.uow(later)))[:2] == (1, 2)
    assert await delivery.claim(db.uow(later + timedelta(hours=5)), batch=5, lease_s=60, token=uuid4()) == []
    log = await admin.deliveries(db.uow(), sub_id, outcome=None, limit=10)
    assert [(r.attempt, r.outcome, r.http_status, r.error) for r in log] == [
        (2, "failed", None, "ConnectError"), (1, "failed", 500, "HTTP 500")]

    resumed, count = await admin.resume(db.uow(later), sub_id)
    assert resumed.status == "active" and count == 2
    for _ in range(2):
        (c,) = await delivery.claim(db.uow(later), batch=5, lease_s=60, token=uuid4())
        await delivery.record(db.uow(later), c, Outcome(204, None, 1), attempted_at=later, policy=POLICY, jitter=0)
    assert await db.rows("SELECT status FROM messages ORDER BY id") == [{"status": "delivered"}] * 2
    assert await admin.redeliver(db.uow(later), sub_id, since=T0 + timedelta(minutes=5),
                                 until=T0 + timedelta(minutes=15)) == 1
    (again,) = await delivery.claim(db.uow(later), batch=5, lease_s=60, token=uuid4())
    assert again.body["type"] == "case.status_changed" and again.attempts == 1
    assert await delivery.prune(db.uow(later + timedelta(days=40)), retention_days=30) == (4, 1)


async def test_an_erasure_rewrites_the_personal_data_kept_in_earlier_messages(db: Db) -> None:
    await subscribe(db, "case.opened", personal_data=True)
    case = uuid4()
    await db.handle(CaseOpened(case_id=case, **CASE, channel="sms", channel_message_id="SM1", contact_key="ck_1",
                               description="call 613-555-0123", requested_datetime=T0,
                               pii={"phone": "+16135550123"}))
    (kept,) = await db.rows("SELECT body, personal_data FROM messages")
    assert kept["personal_data"] and kept["body"]["data"]["pii"]["phone"] == "+16135550123"
    await db.handle(CasePersonalDataErased(case_id=case, **CASE, closed_at=T0, policy_days=30))
    (erased,) = await db.rows("SELECT body, personal_data FROM messages")
    assert not erased["personal_data"] and "pii" not in erased["body"]["data"]
    assert erased["body"]["data"]["description"] == "call [phone]"
