"""The case service's set-based opening of a batch of new reports on real PostgreSQL: it writes what the
per-event path writes, in a few statements per batch; and any batch it does not take (another event type, a
message that threads, a poison event in the middle) goes to the per-event path, where a poison event is
dead-lettered alone and the rest commit."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.case.adapters.repository import CaseRepository
from services.case.adapters.opening_batch import OpeningBatch
from services.case.domain.threading import case_id_for
from services.case.entrypoints.kafka import intake_batches
from services.case.service_layer import handlers, intake_batch
from services.intake_email.domain import new_text, parse_message, to_intake
from shared.db.migrate import migrate
from shared.db.pool import create_pool
from shared.db.unit_of_work import PgBatchUnitOfWork
from shared.events import BounceReceived, Envelope, MessageReceived, MessageStatusReceived, MessageWithdrawn
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.kafka import Consumed, Delivery
from shared.service import Runtime
from shared.service_layer import dispatch_batch
from shared.settings import Settings
from support.data import shared_data
from support.statements import Counting

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def migrated_package() -> str:
    return "services.case"


@pytest.fixture
def pool(service_pool: asyncpg.Pool) -> asyncpg.Pool:
    return service_pool


@pytest.fixture
def jurisdiction() -> Jurisdiction:
    return load_jurisdiction("demo")


def report(n: int, **kw: Any) -> MessageReceived:
    fields: dict[str, Any] = {
        "channel": "sms", "channel_message_id": f"SM{n}", "contact_key": f"k{n % 3}", "received_at": NOW,
        "description": f"pothole number {n}", "pii": {"phone": f"+1555555{n:04d}", "name": None}, **kw}
    return MessageReceived.model_validate(fields)


def consumed(*payloads: Any) -> list[tuple[Envelope, Delivery]]:
    return [(Envelope.new_flow(p, subject=getattr(p, "contact_key", "s"), producer="intake", now=NOW),
             Delivery(topic="intake.messages", partition=0, offset=i, consumer="case"))
            for i, p in enumerate(payloads)]


def batch_of(pool: asyncpg.Pool, schema: str) -> Any:
    return lambda: PgBatchUnitOfWork(pool, service=schema, repository=CaseRepository)


def opening_batch(pool: asyncpg.Pool, schema: str) -> Any:
    return lambda: OpeningBatch(pool, service=schema)


async def stored(pool: asyncpg.Pool) -> dict[str, Any]:
    """What a batch left in the schema, without the ids drawn from sequences of their own."""
    async with pool.acquire() as conn:
        return {
            "cases": [dict(r) for r in await conn.fetch("SELECT * FROM cases ORDER BY service_request_id")],
            "messages": [dict(r) for r in await conn.fetch("SELECT * FROM messages ORDER BY channel_message_id")],
            "reporters": [dict(r) for r in await conn.fetch("SELECT * FROM reporters ORDER BY contact_key")],
            "timeline": [dict(r) for r in await conn.fetch(
                "SELECT case_id, at, kind, event_id, detail, actor, role FROM timeline ORDER BY id")],
            "inbox": sorted(str(r["event_id"]) for r in await conn.fetch("SELECT event_id FROM inbox")),
            "outbox": [(r["topic"], r["message_key"], Envelope.from_bytes(r["payload"]).model_dump(
                exclude={"event_id", "producer"})) for r in await conn.fetch("SELECT * FROM outbox ORDER BY id")],
        }


@pytest.fixture
async def second_pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a second case schema of the same database (the per-event path's, to compare with)."""
    name = f"it_{uuid4().hex[:10]}"
    await migrate(database, name, "services.case")
    p = await create_pool(database, name, application_name="it-case-batch", max_size=2)
    yield p
    await p.close()


async def test_a_batch_of_new_reports_is_opened_as_the_per_event_path_opens_it_in_a_few_statements(
        pool: asyncpg.Pool, second_pool: asyncpg.Pool, fresh_schema_name: str, jurisdiction: Jurisdiction) -> None:
    events = consumed(*(report(n) for n in range(40)),
                      report(40, lat=-75.6972, long=45.4215),  # a swapped point: a second timeline entry
                      report(41, channel="email", channel_message_id="<m41@x>", pii={"email": "ann@example.org"}))
    counting = Counting(pool)
    words = await intake_batch.open_new_reports(events, opening_batch(counting, fresh_schema_name),
                                                jurisdiction=jurisdiction, now=NOW)
    statements = counting.ours
    second_schema = await second_pool.fetchval("SELECT current_schema()")
    outcomes = await dispatch_batch(handlers.handlers(jurisdiction), events, batch_of(second_pool, second_schema),
                                    clock=lambda: NOW)

    assert words == ["opened"] * 42 == [o.result for o in outcomes]
    fast, per_event = await stored(pool), await stored(second_pool)
    assert fast == per_event, "the same cases, numbers, messages, reporters, timeline, claims and events"
    assert [c["service_request_id"] for c in fast["cases"]] == [f"DEMO-26-{n:06d}" for n in range(1, 43)]
    assert [e[2]["causation_id"] for e in fast["outbox"]] == [e.event_id for e, _ in events], "in offset order"
    assert 4 <= len(statements) <= 10, f"a handful of statements for 42 reports, not four each: {statements}"

    again = await intake_batch.open_new_reports(events[:2], opening_batch(pool, fresh_schema_name),
                                                jurisdiction=jurisdiction, now=NOW)
    assert again == ["duplicate", "duplicate"], "a redelivered batch is skipped by the inbox"
    assert await stored(pool) == fast


@pytest.mark.parametrize("odd", ["withdrawal", "threaded", "twice", "answers_one_of_the_batch"])
async def test_a_batch_that_is_not_only_new_reports_is_declined_with_nothing_kept(
        pool: asyncpg.Pool, fresh_schema_name: str, jurisdiction: Jurisdiction, odd: str) -> None:
    batch = opening_batch(pool, fresh_schema_name)
    await intake_batch.open_new_reports(consumed(report(1)), batch, jurisdiction=jurisdiction, now=NOW)
    before = await stored(pool)
    other = {
        "withdrawal": MessageWithdrawn(channel="sms", channel_message_id="SM9", contact_key="k0", received_at=NOW),
        "threaded": report(3, in_reply_to=["SM1"]),  # answers the case opened above
        "twice": report(2),
        "answers_one_of_the_batch": report(4, in_reply_to=["SM2"]),
    }[odd]
    with pytest.raises(intake_batch.Declined):
        await intake_batch.open_new_reports(consumed(report(2), other), batch, jurisdiction=jurisdiction, now=NOW)
    assert await stored(pool) == before


@pytest.mark.parametrize("invalid_too", [False, True], ids=["refused_by_the_store", "and_one_that_does_not_validate"])
async def test_a_poison_event_in_the_middle_of_a_batch_is_dead_lettered_alone_and_the_rest_open(
        pool: asyncpg.Pool, fresh_schema_name: str, jurisdiction: Jurisdiction, invalid_too: bool) -> None:
    """Report 5 passes every check before the write and is refused by the store (its case id is taken): the
    set-based write fails, is rolled back, and the per-event path isolates it. Report 7, when `invalid_too`,
    does not validate: the batch is declined before any write."""
    settings = Settings()
    rt = Runtime(settings, fresh_schema_name)
    rt.pool = pool
    rt.clock = lambda: NOW
    table = handlers.handlers(jurisdiction)
    intake = intake_batches(rt, rt.event_handler(lambda: table, CaseRepository), lambda: jurisdiction)
    async with pool.acquire() as conn:  # a case already holding report 5's id, without its message: refused
        await CaseRepository(conn).upsert_reporter("k9", "sms", {}, NOW)
        await conn.execute(
            "INSERT INTO cases (case_id, service_request_id, jurisdiction_id, status, channel, contact_key, "
            "correlation_id, requested_datetime, opened_at, updated_datetime) "
            "VALUES ($1, 'DEMO-26-999999', 'demo', 'open', 'sms', 'k9', $2, $3, $3, $3)",
            case_id_for("sms", "SM5"), uuid4(), NOW)
    events = consumed(*(report(n) for n in range(10)))
    poisons = {5: "UniqueViolationError"}
    if invalid_too:
        bad = Envelope.from_bytes(events[7][0].to_bytes().replace(b'"channel":"sms"', b'"channel":"pigeon"'))
        events[7] = (bad, events[7][1])
        poisons[7] = "ValidationError"
    items = [Consumed(env, delivery, None) for env, delivery in events]  # type: ignore[arg-type]

    result = await intake(items, True)

    assert {r.consumed.delivery.offset: r.reason for r in result.rejected} == poisons, "each poison fails alone"
    assert result.handled == 10 - len(poisons)
    async with pool.acquire() as conn:
        opened = {r["channel_message_id"] for r in await conn.fetch("SELECT channel_message_id FROM messages")}
        inbox = {r["event_id"] for r in await conn.fetch("SELECT event_id FROM inbox")}
        caused = [Envelope.from_bytes(r["payload"]).causation_id
                  for r in await conn.fetch("SELECT payload FROM outbox ORDER BY id")]
    assert opened == {f"SM{n}" for n in range(10) if n not in poisons}
    assert inbox == {e.event_id for i, (e, _) in enumerate(events) if i not in poisons}, "the poisons' claims released"
    assert caused == [e.event_id for i, (e, _) in enumerate(events) if i not in poisons], "case.opened in offset order"

    next_batch = [Consumed(env, delivery, None)  # type: ignore[arg-type]
                  for env, delivery in consumed(report(20), report(21))]
    again = await intake(next_batch, True)
    assert (again.handled, again.rejected) == (2, []), "the next batch of new reports is opened set-based again"


# --- adversarial: the set-based path (with its fallback) against the per-event path, batch after batch ---


def _numbered(value: Any, names: dict[str, str]) -> Any:
    """`value` with every case number in it replaced by the id of the case holding it: the fast path's
    fallback takes numbers it then rolls back (a gap, documented), so only which case a number names counts."""
    if isinstance(value, str):
        for number, case in names.items():
            value = value.replace(number, case)
        return value
    if isinstance(value, dict):
        return {k: _numbered(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_numbered(v, names) for v in value]
    return value


async def _kept(pool: asyncpg.Pool) -> Any:
    """`stored(pool)` with case numbers named by their case (see `_numbered`), rows in a number-free order."""
    async with pool.acquire() as conn:
        names = {r["service_request_id"]: f"case:{r['case_id']}"
                 for r in await conn.fetch("SELECT service_request_id, case_id FROM cases")}
    kept = _numbered(await stored(pool), names)
    kept["cases"].sort(key=lambda c: str(c["case_id"]))
    return kept


def _real_reports() -> list[MessageReceived]:
    """Reports as the intake services make them from real inputs: a real email reply (In-Reply-To and
    References naming mail we never saw), a real Twilio SMS (base64-looking body), and a real Open311 body."""
    root = shared_data()
    parsed = parse_message((root / "email/mikel_mail/plain_emails_raw_email_reply.eml").read_bytes())
    mail = to_intake(parsed, new_text(parsed.text), NOW, None)
    bodies = json.loads((root / "twilio/courier_twilio_sms_whatsapp_webhook_bodies.json").read_text())["bodies"]
    sms = dict(urllib.parse.parse_qsl(bodies["receiveBase64"]["raw"]))
    text = report(900, channel_message_id=sms["SmsSid"], description=sms["Body"], contact_key="tw1")
    first = json.loads((root / "open311/chicago_requests_small.json").read_text())[0]  # a list of requests
    assert "description" not in first  # the first request has only its service name
    web = report(901, channel="open311", channel_message_id=f"o311-{first['service_request_id']}",
                 description=first["service_name"], contact_key="web1")
    return [mail, text, web]


class _BothPaths:
    """The intake callback (set-based, declining to the per-event path) on `pool`'s schema beside
    `dispatch_batch` alone on `second_pool`'s: `consume` feeds both one batch and checks that they end alike
    (`_kept`) and dead-letter the same events; `fast_path` says how the set-based path ended for each batch
    ("taken", "declined" or "failed", by batch number)."""

    def __init__(self, pool: asyncpg.Pool, second_pool: asyncpg.Pool, schema: str, jurisdiction: Jurisdiction,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        rt = Runtime(Settings(), schema)
        rt.pool = pool
        rt.clock = lambda: NOW
        self.table = handlers.handlers(jurisdiction)
        self.intake = intake_batches(rt, rt.event_handler(lambda: self.table, CaseRepository), lambda: jurisdiction)
        self.pool, self.second_pool = pool, second_pool
        self.fast_path: dict[int, str] = {}
        self.number = 0
        set_based = intake_batch.open_new_reports

        async def watched(*args: Any, **kw: Any) -> list[str]:
            try:
                words = await set_based(*args, **kw)
            except intake_batch.Declined:
                self.fast_path[self.number] = "declined"
                raise
            except Exception:
                self.fast_path[self.number] = "failed"
                raise
            self.fast_path[self.number] = "taken"
            return words

        monkeypatch.setattr(intake_batch, "open_new_reports", watched)

    async def consume(self, number: int, events: list[tuple[Envelope, Delivery]]) -> None:
        self.number = number
        second_schema = await self.second_pool.fetchval("SELECT current_schema()")
        result = await self.intake([Consumed(e, d, None) for e, d in events], True)  # type: ignore[arg-type]
        outcomes = await dispatch_batch(self.table, events, batch_of(self.second_pool, second_schema),
                                        clock=lambda: NOW)
        assert sorted(r.consumed.delivery.offset for r in result.rejected) == sorted(
            d.offset for (_, d), o in zip(events, outcomes, strict=True) if o.failure is not None), (
            f"batch {number}: the same events dead-lettered")
        assert result.handled == sum(o.failure is None and o.result not in (None, "duplicate") for o in outcomes), (
            f"batch {number}")
        fast, per_event = await _kept(self.pool), await _kept(self.second_pool)
        for part in fast:
            assert fast[part] == per_event[part], f"batch {number}: {part} differ"


async def test_a_run_of_batches_that_thread_into_each_other_ends_as_the_per_event_path_ends_it(
        pool: asyncpg.Pool, second_pool: asyncpg.Pool, fresh_schema_name: str, jurisdiction: Jurisdiction,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch after batch, each through the intake callback (set-based, declining to the per-event path) on
    one schema and through `dispatch_batch` alone on another: every route threading knows (References only,
    a quoted case number, a reply before its report, a withdrawal before its message, a provider retry in a
    later batch and in the same batch, a whole batch redelivered, a reply inside one batch, a message quoting
    a number the batch gives out), real inputs and hostile bodies: the same cases, threads, claims and events,
    and the same events dead-lettered."""
    both = _BothPaths(pool, second_pool, fresh_schema_name, jurisdiction, monkeypatch)
    mail, text, web = _real_reports()
    late = report(50, channel_message_id="SM-late", contact_key="kL")
    withdrawn = report(60, channel_message_id="SM-W", contact_key="kW")
    batches: list[list[Any]] = [
        # 1: new reports only (set-based), one of them a reply to a report that comes later
        [mail, text, web, report(1, contact_key="kq"), report(2), report(3, in_reply_to=["SM-late"], contact_key="kL")],
        # 2: each threads or repeats: declined, per-event
        [report(10, channel="email", channel_message_id="<r10@x>", in_reply_to=["<nobody@x>", mail.channel_message_id],
                contact_key="kmail"),  # References only names the mail of batch 1
         report(11, case_number_hint="DEMO-26-000004", contact_key="kq"),  # quotes batch 1's 4th case, same reporter
         report(12, case_number_hint="DEMO-26-000004", contact_key="stranger"),  # the same number, someone else
         late,  # its reply came first
         report(13, channel_message_id=text.channel_message_id, contact_key="tw1", description="retry"),
         MessageWithdrawn(channel="sms", channel_message_id="SM-W", contact_key="kW", received_at=NOW)],
        # 3: a message withdrawn before it came, among new reports; one withdrawn after it, in the same batch;
        # one opened set-based in batch 1 withdrawn now
        [report(20), withdrawn, report(21),
         MessageWithdrawn(channel="sms", channel_message_id="SM21", contact_key="k0", received_at=NOW),
         MessageWithdrawn(channel="sms", channel_message_id="SM2", contact_key="k2", received_at=NOW)],
        # 4: the same channel message twice in one batch (a provider retry published twice)
        [report(30), report(31, description="first"), report(31, description="again"), report(32)],
        # 5: batch 1 once more, same events (a redelivery): its envelopes are reused below
        [],
        # 6: a reply inside one batch
        [report(40), report(41, in_reply_to=["SM40"])],
        # 7: a message quoting the number the same batch gives its reporter's report just before it
        [report(43, contact_key="kn"), report(44, case_number_hint="DEMO-26-000015", contact_key="kn")],
        # 8: one event published twice (the same event id at two offsets) among new reports
        [report(45), report(46), report(47)],
        # 9: hostile bodies: a NUL, a 900 KB text, a lone surrogate
        [report(70, description="pot\x00hole"), report(71, description="x" * 900_000),
         report(72, description="fine"), report(73, description="broken \ud800 text"), report(74)],
        # 10: two channel ids that are one once the NUL is cleaned away (a hostile provider retry)
        [report(80, channel_message_id="SM8\x000"), report(81, channel_message_id="SM80")],
    ]
    offset = 0
    first: list[tuple[Envelope, Delivery]] = []
    for number, payloads in enumerate(batches, start=1):
        if number == 5:
            events = first
        else:
            events = [(Envelope.new_flow(p, subject=p.contact_key, producer="intake", now=NOW),
                       Delivery(topic="intake.messages", partition=0, offset=offset + i, consumer="case"))
                      for i, p in enumerate(payloads)]
            offset += len(events)
        if number == 8:
            again = Delivery(topic="intake.messages", partition=0, offset=offset, consumer="case")
            events.insert(2, (events[0][0], again))
            offset += 1
        if number == 1:
            first = events
        await both.consume(number, events)
    assert both.fast_path == {1: "taken", 5: "taken", 9: "failed"} | {
        n: "declined" for n in (2, 3, 4, 6, 7, 8, 10)}, "each batch went the way meant for it"


async def test_other_consumers_events_among_new_reports_are_left_as_the_per_event_path_leaves_them(
        pool: asyncpg.Pool, second_pool: asyncpg.Pool, fresh_schema_name: str, jurisdiction: Jurisdiction,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`intake.messages` also carries the notifier's bounces and delivery statuses, which the case service
    does not handle: a burst of new reports with them in the middle is still opened set-based, the others
    unclaimed and untouched as the per-event path leaves them; a batch of them alone keeps nothing."""
    both = _BothPaths(pool, second_pool, fresh_schema_name, jurisdiction, monkeypatch)
    bounce = BounceReceived(channel="email", channel_message_id="<bounce-1@x>", contact_key="k1", received_at=NOW,
                            reason="mailbox unknown", status="5.1.1")
    status = MessageStatusReceived(channel="sms", provider_message_id="SMout1", contact_key="k2", received_at=NOW,
                                   status="delivered", outcome="delivered")
    batches = [[report(1), report(2), bounce, report(3), status, report(4)], [status, bounce]]
    offset = 0
    for number, payloads in enumerate(batches, start=1):
        events = consumed(*payloads)
        events = [(e, Delivery(topic="intake.messages", partition=0, offset=offset + d.offset, consumer="case"))
                  for e, d in events]
        offset += len(events)
        await both.consume(number, events)
    assert both.fast_path == {1: "taken", 2: "taken"}, "neither batch declined for the events it leaves out"
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM inbox") == 4, "only the reports are claimed"


async def test_the_real_email_corpus_in_bursts_ends_as_the_per_event_path_ends_it(
        pool: asyncpg.Pool, second_pool: asyncpg.Pool, fresh_schema_name: str, jurisdiction: Jurisdiction,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every real email of the shared corpus as intake makes it (bounces, auto-replies, forwards, odd
    charsets; three pairs share a Message-ID, a few name others in In-Reply-To/References), in bursts of 20
    in file order, then all of them again as new events (a mailbox read twice): the set-based path and its
    fallback end as the per-event path does, batch after batch."""
    mails = []
    for path in sorted((shared_data() / "email").rglob("*.eml")):
        parsed = parse_message(path.read_bytes())
        mails.append(to_intake(parsed, new_text(parsed.text), NOW, None))
    assert len(mails) >= 50
    both = _BothPaths(pool, second_pool, fresh_schema_name, jurisdiction, monkeypatch)
    bursts = [mails[i:i + 20] for i in range(0, len(mails), 20)] + [mails]
    offset = 0
    for number, burst in enumerate(bursts, start=1):
        events = [(Envelope.new_flow(m, subject=m.contact_key, producer="intake", now=NOW),
                   Delivery(topic="intake.messages", partition=0, offset=offset + i, consumer="case"))
                  for i, m in enumerate(burst)]
        offset += len(events)
        await both.consume(number, events)
    assert both.fast_path[len(bursts)] == "declined", "the mailbox read again repeats every message"
    assert "taken" in both.fast_path.values(), "some burst of new mail is opened set-based"
