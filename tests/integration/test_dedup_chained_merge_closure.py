"""Clusters, not pairs: when duplicates were merged in a chain (A into B, then B into C), closing the
surviving case C tells every reporter of the incident, A's included. The notifier's handlers on a real
unit of work over real PostgreSQL (its own schema), with senders that keep what left."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.notifier.adapters.repository import NotifierRepository
from services.notifier.service_layer import handlers as h
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CaseMerged, CaseOpened, CaseStatusChanged
from shared.kafka import Delivery
from shared.service_layer import dispatch
from support.uow import event

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def migrated_package() -> str:
    return "services.notifier"


class Notifier:
    """The notifier consuming events one offset after another, each in its own real unit of work; every
    email sent is kept in `mails`."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool, self.schema, self.offset = pool, schema, 0
        self.mails: list[EmailMessage] = []

        async def send(message: EmailMessage) -> None:
            self.mails.append(message)

        senders = h.Senders(send_email=send, mail_from="311@city.test", mail_from_name="City 311")
        self.table = h.handlers(h.Sending(senders, lambda env, now: PgUnitOfWork(
            pool, service=schema, repository=NotifierRepository, now=now, envelope=env)))

    async def __call__(self, payload: Any) -> str | None:
        self.offset += 1
        env = event(payload, subject="s", now=NOW)
        delivery = Delivery(topic="cases.lifecycle", partition=0, offset=self.offset, consumer=self.schema)
        return await dispatch(self.table, env, lambda: PgUnitOfWork(
            self.pool, service=self.schema, repository=NotifierRepository, now=NOW, envelope=env,
            delivery=delivery))

    def to(self, address: str) -> list[str]:
        return [str(m["Subject"]) for m in self.mails if m["To"] == address]


def opened(name: str) -> CaseOpened:
    return CaseOpened(case_id=uuid4(), service_request_id=f"DEMO-26-{uuid4().int % 10**6:06d}",
                      jurisdiction_id="demo", channel="email", channel_message_id=f"<{uuid4().hex}@resident.test>",
                      contact_key=f"ck-{name}", description="Pothole", requested_datetime=NOW, language="en",
                      pii={"email": f"{name}@resident.test"})


def merged(case: CaseOpened, into: CaseOpened) -> CaseMerged:
    return CaseMerged(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                      merged_into=into.case_id, merged_into_service_request_id=into.service_request_id,
                      status_notes=f"Duplicate of {into.service_request_id}")


async def test_closing_the_survivor_of_a_chain_of_merges_tells_the_first_reporter_too(
        service_pool: asyncpg.Pool, fresh_schema_name: str) -> None:
    notify = Notifier(service_pool, fresh_schema_name)
    a, b, c = opened("ann"), opened("bob"), opened("cat")
    for case in (a, b, c):
        await notify(case)
    await notify(merged(a, b))   # A into B: Ann now follows B
    await notify(merged(b, c))   # B into C: Bob follows C, and so, through B, does Ann
    before = {who: len(notify.to(f"{who}@resident.test")) for who in ("ann", "bob", "cat")}

    await notify(CaseStatusChanged(case_id=c.case_id, service_request_id=c.service_request_id,
                                   jurisdiction_id="demo", status="closed", status_notes="Repaired."))

    told = {who: notify.to(f"{who}@resident.test")[before[who]:] for who in ("ann", "bob", "cat")}
    assert all(len(subjects) == 1 for subjects in told.values()), told
    assert all(c.service_request_id in subjects[0] for subjects in told.values()), told


async def test_an_unmerged_link_of_the_chain_no_longer_hears_of_the_survivor(
        service_pool: asyncpg.Pool, fresh_schema_name: str) -> None:
    notify = Notifier(service_pool, fresh_schema_name)
    a, b, c = opened("ann"), opened("bob"), opened("cat")
    for case in (a, b, c):
        await notify(case)
    await notify(merged(a, b))
    await notify(merged(b, c))
    async with service_pool.acquire() as conn:
        repo = NotifierRepository(conn)
        assert {x.contact_key for x in await repo.contacts_following(c.case_id)} == {"ck-ann", "ck-bob", "ck-cat"}
        assert await repo.unmark_merged(b.case_id, c.case_id)
        # B is its own case again, and A, merged into B, follows B, not C.
        assert {x.contact_key for x in await repo.contacts_following(c.case_id)} == {"ck-cat"}
        assert {x.contact_key for x in await repo.contacts_following(b.case_id)} == {"ck-ann", "ck-bob"}
