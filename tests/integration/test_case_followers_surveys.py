"""Followers and survey answers in the case store, against real PostgreSQL through the handlers on a real
unit of work: a follow is kept once per (case, contact key) with its address in `reporters`, a survey
answer once per token (accepted or refused), the public history and the followers count read back, and
retention erases a follower's address and survey comments as it erases a reporter's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.case.adapters.reads import CaseReads
from services.case.adapters.repository import CaseRepository
from services.case.domain.history import public_history
from services.case.service_layer import retention
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import DedupDecided, FollowRequested, MessageReceived, SurveyAnswered
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.surveys import survey_contact_key, survey_jti
from support.case_consumer import CaseConsumer

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def migrated_package() -> str:
    return "services.case"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


@pytest.fixture(scope="module")
def demo() -> Jurisdiction:
    return load_jurisdiction("demo")


@pytest.fixture
def consume(pool: asyncpg.Pool, fresh_schema_name: str, demo: Jurisdiction) -> CaseConsumer:
    return CaseConsumer(pool, fresh_schema_name, demo, start=NOW)


async def report(consume: CaseConsumer, n: int, contact_key: str) -> str:
    msg = MessageReceived(channel="sms", channel_message_id=f"SM{n}", contact_key=contact_key, received_at=NOW,
                          description=f"Pothole {n}, call 613-555-01{n:02d}", pii={"phone": f"+161355501{n:02d}"})
    assert await consume(msg) == "opened"
    return f"DEMO-26-{n:06d}"


def follow(sid: str, key: str = "ck-fay", channel: str = "email") -> FollowRequested:
    pii = {"email": "fay@example.org"} if channel == "email" else {"phone": "+16135550177"}
    return FollowRequested(channel_message_id=f"f-{uuid4().hex[:8]}", contact_key=key, received_at=NOW,
                           service_request_id=sid, notify_channel=channel, language="en", pii=pii)  # type: ignore[arg-type]


def answer(sid: str, key: str, comment: str = "Quick, thanks") -> SurveyAnswered:
    """The answer to `key`'s invitation about `sid` as the portal publishes it: keyed by the invitation."""
    jti = survey_jti(sid, key)
    return SurveyAnswered(channel_message_id=jti, contact_key=survey_contact_key(jti), received_at=NOW,
                          service_request_id=sid, rating=5, comment=comment, language="en")


async def outbox_types(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("SELECT payload FROM outbox ORDER BY id")
    return [json.loads(bytes(r["payload"]))["event_type"] for r in rows]


async def case_id(pool: asyncpg.Pool, sid: str) -> UUID:
    return await pool.fetchval("SELECT case_id FROM cases WHERE service_request_id = $1", sid)  # type: ignore[no-any-return]


async def test_a_follow_is_kept_once_per_contact_key_and_lands_on_the_survivor(pool: asyncpg.Pool,
                                                                             consume: CaseConsumer) -> None:
    first = await report(consume, 1, "k1")
    second = await report(consume, 2, "k2")
    await consume(DedupDecided(case_id=await case_id(pool, second), duplicate_of=await case_id(pool, first),
                               score=0.9, distance_m=5, text_similarity=0.8, window_hours=72, radius_m=50))

    assert await consume(follow(first)) == "followed"
    assert await consume(follow(first)) == "already_following"
    assert await consume(follow(second, key="ck-sam", channel="sms")) == "followed"

    rows = await pool.fetch("SELECT f.case_id, f.contact_key, f.notify_channel, r.pii FROM followers f "
                            "JOIN reporters r USING (contact_key) ORDER BY f.contact_key")
    survivor = await case_id(pool, first)
    assert [(r["case_id"], r["contact_key"], r["notify_channel"]) for r in rows] == [
        (survivor, "ck-fay", "email"), (survivor, "ck-sam", "sms")]
    assert {k: v for k, v in rows[0]["pii"].items() if v} == {"email": "fay@example.org"}
    assert (await outbox_types(pool)).count("case.followed") == 2
    assert await CaseReads(pool).followers_count(survivor) == 2


async def test_survey_answers_are_kept_once_per_token_accepted_or_refused(pool: asyncpg.Pool,
                                                                        consume: CaseConsumer) -> None:
    sid = await report(consume, 1, "k1")
    await consume(follow(sid))

    assert await consume(answer(sid, "k1")) == "answered"
    assert await consume(answer(sid, "k1", comment="changed my mind")) == "already_answered"
    assert await consume(answer(sid, "ck-fay")) == "refused"  # a follower holds no invitation

    rows = {r["channel_message_id"]: dict(r) for r in await pool.fetch("SELECT * FROM survey_answers")}
    mine, fays = rows[survey_jti(sid, "k1")], rows[survey_jti(sid, "ck-fay")]
    assert (mine["outcome"], mine["comment"], mine["contact_key"]) == ("accepted", "Quick, thanks", "k1")
    assert fays["outcome"] == "refused" and fays["reason"].startswith("not a reporter")
    assert (await outbox_types(pool)).count("case.survey_answered") == 1
    outbox = [json.loads(bytes(r["payload"])) for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    [announced] = [e for e in outbox if e["event_type"] == "case.survey_answered"]
    assert announced["data"]["contact_key"] == "k1"  # the reporter the case service found by the jti
    reads = CaseReads(pool)
    case = await reads.case(sid)
    assert case is not None
    view = public_history(case, await reads.timeline(case["case_id"]), jurisdiction=load_jurisdiction("demo"),
                          followers=await reads.followers_count(case["case_id"]))
    assert [e["kind"] for e in view["entries"]] == ["opened", "survey_answered"]
    assert view["followers"] == 1 and "Quick" not in str(view) and "fay" not in str(view)


async def test_what_the_tables_refuse(pool: asyncpg.Pool, consume: CaseConsumer) -> None:
    sid = await report(consume, 1, "k1")
    cid = await case_id(pool, sid)
    async with pool.acquire() as conn, conn.transaction():
        repo = CaseRepository(conn)
        with pytest.raises(asyncpg.ForeignKeyViolationError):  # a follower's address is stored first
            async with conn.transaction():
                await repo.add_follower({"case_id": cid, "contact_key": "nobody", "notify_channel": "email",
                                         "language": None, "followed_at": NOW, "event_id": uuid4()})
        with pytest.raises(asyncpg.CheckViolationError):
            async with conn.transaction():
                await repo.add_follower({"case_id": cid, "contact_key": "k1", "notify_channel": "fax",
                                         "language": None, "followed_at": NOW, "event_id": uuid4()})
        with pytest.raises(asyncpg.CheckViolationError):
            async with conn.transaction():
                await repo.insert_survey_answer({"channel_message_id": "j", "case_id": cid, "contact_key": "k1",
                                                 "rating": 6, "comment": "", "language": None, "outcome": "accepted",
                                                 "reason": None, "answered_at": NOW, "recorded_at": NOW,
                                                 "event_id": uuid4()})


async def test_retention_erases_followers_addresses_and_survey_comments_with_the_case(
        pool: asyncpg.Pool, consume: CaseConsumer, fresh_schema_name: str, demo: Jurisdiction) -> None:
    old = await report(consume, 1, "k1")
    still_open = await report(consume, 2, "k2")
    await consume(follow(old, key="ck-fay"))
    await consume(follow(old, key="ck-sam", channel="sms"))
    await consume(follow(still_open, key="ck-sam", channel="sms"))  # Sam follows an open case too
    await consume(answer(old, "k1", comment="Thanks! reach me at 613-555-0101"))
    closed_on = NOW + timedelta(days=1)
    await pool.execute("UPDATE cases SET status = 'closed', updated_datetime = $2 WHERE service_request_id = $1",
                       old, closed_on)

    async with PgUnitOfWork(pool, service=fresh_schema_name, repository=CaseRepository,
                            now=closed_on + timedelta(days=demo.retention.closed_days)) as uow:
        assert await retention.erase_due(uow, jurisdiction=demo) == 1

    pii = {r["contact_key"]: {k: v for k, v in r["pii"].items() if v}
           for r in await pool.fetch("SELECT contact_key, pii FROM reporters")}
    assert pii["ck-fay"] == {} and pii["k1"] == {}
    assert pii["ck-sam"] == {"phone": "+16135550177"}, "a follower of a case still open keeps their address"
    assert await pool.fetchval("SELECT comment FROM survey_answers") == "Thanks! reach me at [phone removed]"
    erased = [json.loads(bytes(r["payload"])) for r in await pool.fetch("SELECT payload FROM outbox ORDER BY id")]
    [event_] = [e for e in erased if e["event_type"] == "case.personal_data_erased"]
    assert event_["data"]["contact_keys"] == ["ck-fay", "k1"]
