"""Case handlers on an in-memory unit of work: opening and threading cases, routing, merges, notification
records and staff status changes, with replays that change nothing and failures that roll back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from services.case.adapters.repository import CASE_COLUMNS
from services.case.domain.commands import ChangeStatus
from services.case.domain.rules import CaseState
from services.case.domain.threading import CaseRef, ThreadingFacts
from services.case.service_layer import handlers as h
from shared.events import (
    CaseMerged,
    CaseMessageAdded,
    CaseOpened,
    CaseRouted,
    CaseStatusChanged,
    DedupDecided,
    MessageReceived,
    NotificationRecorded,
    RoutingDecided,
    RoutingFields,
)
from support.uow import T0, FakeStore, event

TZ = ZoneInfo("America/Toronto")


class FakeCaseRepository:
    """`CaseRepository` in memory: cases by id (every column), messages, reporters, timeline rows, our
    outbound message ids, the case-number sequence and the order rows were locked in (`locks`)."""

    def __init__(self) -> None:
        self.cases: dict[UUID, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.reporters: dict[str, dict[str, Any]] = {}
        self.timeline: list[dict[str, Any]] = []
        self.outbound: dict[str, UUID] = {}
        self.seq = 0
        self.locks: list[UUID] = []

    async def threading_facts(self, channel: str, channel_message_id: str, *, hinted: str | None,
                              reply_ids: list[str]) -> ThreadingFacts:
        held = [m["case_id"] for m in self.messages
                if (m["channel"], m["channel_message_id"]) == (channel, channel_message_id)]
        numbered = [c for c in self.cases.values() if hinted and c["service_request_id"] == hinted]
        ours = [self.outbound[i] for i in reply_ids if i in self.outbound]
        theirs = [m["case_id"] for m in self.messages if m["channel_message_id"] in reply_ids]
        answering = sorted((m for m in self.messages if channel_message_id in m["in_reply_to"]),
                           key=lambda m: m["received_at"])
        return ThreadingFacts(
            held_by=held[0] if held else None,
            hinted=CaseRef(numbered[0]["case_id"], numbered[0]["contact_key"]) if numbered else None,
            replied_ours=ours[0] if ours else None,
            replied_theirs=theirs[0] if theirs else None,
            answered_by=(CaseRef(answering[0]["case_id"], self.cases[answering[0]["case_id"]]["contact_key"])
                         if answering else None),
        )

    async def upsert_reporter(self, contact_key: str, channel: str, pii: dict[str, Any], now: datetime) -> None:
        known = self.reporters.get(contact_key)
        if known is None:
            self.reporters[contact_key] = {"channel": channel, "pii": pii, "first_seen": now, "last_seen": now}
        else:
            known.update(last_seen=now, pii={**known["pii"], **{k: v for k, v in pii.items() if v is not None}})

    async def next_case_number(self) -> int:
        self.seq += 1
        return self.seq

    async def insert_case(self, row: dict[str, Any]) -> None:
        assert row["case_id"] not in self.cases
        assert row["contact_key"] in self.reporters, "cases.contact_key references reporters"
        columns = [c.strip() for c in CASE_COLUMNS.split(",")]
        self.cases[row["case_id"]] = {**dict.fromkeys(columns), "description": "", "media_url": [], **row}

    async def insert_message(self, row: dict[str, Any]) -> None:
        assert not any((m["channel"], m["channel_message_id"]) == (row["channel"], row["channel_message_id"])
                       for m in self.messages), "messages are unique per channel message"
        self.messages.append(row)

    async def add_timeline(self, case_id: UUID, at: datetime, kind: str, event_id: UUID | None,
                           detail: dict[str, Any]) -> None:
        self.timeline.append({"case_id": case_id, "at": at, "kind": kind, "event_id": event_id, "detail": detail})

    async def get_case(self, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        case = self.cases.get(case_id)
        return dict(case) if case else None

    async def update_case(self, case_id: UUID, fields: dict[str, Any]) -> None:
        self.cases[case_id].update(fields)

    async def case_state(self, case_id: UUID) -> CaseState | None:
        self.locks.append(case_id)
        c = self.cases.get(case_id)
        return CaseState(c["case_id"], c["status"], c["merged_into"], c["opened_at"]) if c else None

    async def lock_cases(self, case_ids: list[UUID]) -> None:
        for case_id in case_ids:
            await self.case_state(case_id)

    async def merge_chain(self, case_id: UUID, limit: int = 20) -> list[CaseState]:
        state, chain = await self.case_state(case_id), []
        while state is not None and len(chain) < limit:
            chain.append(state)
            state = await self.case_state(state.merged_into) if state.merged_into else None
        return chain

    async def record_outbound(self, provider_message_id: str, case_id: UUID) -> None:
        self.outbound.setdefault(provider_message_id, case_id)

    # --- what the tests read ---

    def entries(self, case_id: UUID, kind: str | None = None) -> list[dict[str, Any]]:
        return [t for t in self.timeline if t["case_id"] == case_id and kind in (None, t["kind"])]


Store = FakeStore[FakeCaseRepository]


@pytest.fixture(scope="module")
def table() -> Any:
    return h.handlers("demo", TZ)


@pytest.fixture
def store() -> Store:
    return FakeStore(FakeCaseRepository(), "case")


def message(channel_message_id: str = "SM1", **kw: Any) -> MessageReceived:
    fields: dict[str, Any] = {"channel": "sms", "channel_message_id": channel_message_id, "contact_key": "k1",
                              "received_at": T0, "description": "Pothole on Main St"}
    return MessageReceived(**{**fields, **kw})


async def receive(store: Store, table: Any, msg: MessageReceived, *, now: datetime = T0) -> str | None:
    return await store.handle(table, event(msg, subject=msg.contact_key, now=now), now=now)


async def open_case(store: Store, table: Any, channel_message_id: str = "SM1", **kw: Any) -> dict[str, Any]:
    """Open a case from a new message; returns the case as stored."""
    msg = message(channel_message_id, **kw)
    assert await receive(store, table, msg) == "opened"
    case_id = store.emitted("case.opened")[-1].payload(CaseOpened).case_id
    return dict(store.repo.cases[case_id])


def routing(**kw: Any) -> RoutingFields:
    fields: dict[str, Any] = {"service_code": "pothole", "service_name": "Pothole", "category_source": "keywords",
                              "agency_responsible": "Roads", "queue": "roads-east", "priority": 3,
                              "district": "east", "sla_due_at": T0 + timedelta(days=2), "rule_id": "r1",
                              "config_version": "v1"}
    return RoutingFields(**{**fields, **kw})


def dedup(case_id: UUID, duplicate_of: UUID) -> DedupDecided:
    return DedupDecided(case_id=case_id, duplicate_of=duplicate_of, score=0.9, distance_m=12.5,
                        text_similarity=0.8, window_hours=72, radius_m=50)


def outcome(case_id: UUID, **kw: Any) -> NotificationRecorded:
    fields: dict[str, Any] = {"case_id": case_id, "cause_event_id": uuid4(), "kind": "acknowledgement",
                              "channel": "email", "recipient_key": "r1", "outcome": "sent"}
    return NotificationRecorded(**{**fields, **kw})


# --- accept_message ------------------------------------------------------------------------------------


async def test_a_new_message_opens_a_case_with_a_number_a_message_a_timeline_entry_and_case_opened(
        store: Store, table: Any) -> None:
    msg = message(pii={"phone": "+15555550100"}, lat=45.4, long=-75.7, media_url=["https://m/1.jpg"])
    env = event(msg, subject=msg.contact_key)

    assert await store.handle(table, env) == "opened"

    [case] = store.repo.cases.values()
    assert case["service_request_id"] == "DEMO-26-000001" and case["status"] == "open"
    assert case["correlation_id"] == env.correlation_id and case["opened_at"] == T0
    assert case["contact_key"] == "k1" and case["lat"] == 45.4 and case["media_url"] == ["https://m/1.jpg"]
    [stored] = store.repo.messages
    assert stored["case_id"] == case["case_id"] and stored["event_id"] == env.event_id
    assert store.repo.reporters["k1"]["pii"]["phone"] == "+15555550100"
    [entry] = store.repo.timeline
    assert entry["kind"] == "opened" and entry["event_id"] == env.event_id
    assert entry["detail"] == {"channel": "sms", "service_request_id": "DEMO-26-000001", "sender_authenticated": None}
    [out] = store.emitted()
    opened = out.payload(CaseOpened)
    assert out.event_type == "case.opened" and out.subject == str(case["case_id"])
    assert out.causation_id == env.event_id and out.correlation_id == env.correlation_id
    assert opened.service_request_id == "DEMO-26-000001" and opened.pii.phone == "+15555550100"
    assert opened.requested_datetime == T0 and opened.lat == 45.4


async def test_the_case_number_year_is_the_jurisdictions_local_year(store: Store, table: Any) -> None:
    # 03:00 UTC on 1 January is still New Year's Eve in Toronto.
    new_year = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    assert await receive(store, table, message(received_at=new_year)) == "opened"
    assert store.emitted()[0].payload(CaseOpened).service_request_id == "DEMO-25-000001"


async def test_control_characters_are_stripped_from_the_description(store: Store, table: Any) -> None:
    await receive(store, table, message(description="dark\x00 street\x07"))
    [case] = store.repo.cases.values()
    assert case["description"] == "dark street"


async def test_the_same_event_twice_opens_one_case(store: Store, table: Any) -> None:
    env = event(message(), subject="k1")
    await store.handle(table, env)

    assert await store.handle(table, env) == "duplicate"
    assert len(store.repo.cases) == 1 and len(store.emitted()) == 1


async def test_the_same_channel_message_as_a_new_event_is_a_duplicate(store: Store, table: Any) -> None:
    await receive(store, table, message())
    later = T0 + timedelta(minutes=1)

    assert await receive(store, table, message(), now=later) == "duplicate"
    assert len(store.repo.cases) == 1 and len(store.repo.messages) == 1 and len(store.emitted()) == 1
    assert store.repo.reporters["k1"]["last_seen"] == T0


async def test_a_reply_naming_our_acknowledgement_threads_onto_its_case(store: Store, table: Any) -> None:
    case = await open_case(store, table, channel="email", channel_message_id="<m1@resident>")
    await store.handle(table, event(outcome(case["case_id"], provider_message_id="<ack1@omni311>")))

    reply = message("<m2@resident>", channel="email", in_reply_to=["<ack1@omni311>"],
                    media_url=["https://m/2.jpg"], contact_key="k1")
    env = event(reply, subject="k1")
    assert await store.handle(table, env) == "added"

    assert len(store.repo.cases) == 1
    assert [m["case_id"] for m in store.repo.messages] == [case["case_id"]] * 2
    [added] = store.emitted("case.message_added")
    payload = added.payload(CaseMessageAdded)
    assert payload.case_id == case["case_id"] and payload.channel_message_id == "<m2@resident>"
    assert payload.lat is None and added.causation_id == env.event_id
    [entry] = store.repo.entries(case["case_id"], "message_added")
    assert entry["detail"]["message_id"] == str(payload.message_id)
    assert store.repo.cases[case["case_id"]]["media_url"] == ["https://m/2.jpg"]


async def test_a_reply_naming_the_residents_own_message_threads_onto_its_case(store: Store, table: Any) -> None:
    case = await open_case(store, table, channel="email", channel_message_id="<m1@resident>")

    reply = message("<m2@resident>", channel="email", in_reply_to=["<unknown@x>", "<m1@resident>"],
                    contact_key="someone-else")
    assert await receive(store, table, reply) == "added"
    assert store.emitted("case.message_added")[0].payload(CaseMessageAdded).case_id == case["case_id"]


async def test_a_quoted_case_number_threads_only_the_reporters_own_case(store: Store, table: Any) -> None:
    case = await open_case(store, table)

    own = message("SM2", description=f"Re {case['service_request_id']}: still there",
                  case_number_hint=f"Re: {case['service_request_id']}")
    assert await receive(store, table, own) == "added"

    stranger = message("SM3", contact_key="k2", case_number_hint=case["service_request_id"])
    assert await receive(store, table, stranger) == "opened"
    assert len(store.repo.cases) == 2
    assert store.emitted("case.opened")[-1].payload(CaseOpened).service_request_id == "DEMO-26-000002"


async def test_a_case_number_of_another_jurisdiction_is_no_hint(store: Store, table: Any) -> None:
    await open_case(store, table)
    assert await receive(store, table, message("SM2", case_number_hint="NYC-26-000001")) == "opened"


async def test_a_late_original_joins_the_case_its_reply_opened(store: Store, table: Any) -> None:
    transcript = message("TR1", channel="voice", in_reply_to=["CA1"], description="A deep pothole")
    assert await receive(store, table, transcript) == "opened"
    [case_id] = store.repo.cases

    original = message("CA1", channel="voice", description="Pothole")
    assert await receive(store, table, original) == "added"
    assert len(store.repo.cases) == 1
    assert store.emitted("case.message_added")[0].payload(CaseMessageAdded).case_id == case_id


async def test_a_late_original_from_someone_else_opens_its_own_case(store: Store, table: Any) -> None:
    await receive(store, table, message("TR1", channel="voice", in_reply_to=["CA1"]))

    assert await receive(store, table, message("CA1", channel="voice", contact_key="k2")) == "opened"
    assert len(store.repo.cases) == 2


async def test_a_location_answer_locates_the_case_and_emits_the_location(store: Store, table: Any) -> None:
    case = await open_case(store, table, description="Streetlight out")
    later = T0 + timedelta(minutes=3)

    answer = message("SM2", description="Bank and Somerset", in_reply_to=["SM1"], lat=45.41, long=-75.69,
                     address=" Bank St & Somerset St ", attributes={"completes_location_of": "SM1"})
    assert await receive(store, table, answer, now=later) == "added"

    stored = store.repo.cases[case["case_id"]]
    assert (stored["lat"], stored["long"], stored["address"]) == (45.41, -75.69, "Bank St & Somerset St")
    assert stored["description"] == "Streetlight out" and stored["updated_datetime"] == later
    [located] = store.repo.entries(case["case_id"], "located")
    assert located["detail"]["fields"] == ["address", "lat", "long"]
    assert located["detail"]["source"] == "location_answer"
    added = store.emitted("case.message_added")[0].payload(CaseMessageAdded)
    assert (added.lat, added.long, added.address) == (45.41, -75.69, "Bank St & Somerset St")


async def test_a_location_answer_does_not_move_a_closed_case(store: Store, table: Any) -> None:
    case = await open_case(store, table)
    store.repo.cases[case["case_id"]]["status"] = "closed"

    answer = message("SM2", in_reply_to=["SM1"], lat=45.41, long=-75.69,
                     attributes={"completes_location_of": "SM1"})
    assert await receive(store, table, answer) == "added"
    assert store.repo.cases[case["case_id"]]["lat"] is None
    assert store.repo.entries(case["case_id"], "located") == []
    assert store.emitted("case.message_added")[0].payload(CaseMessageAdded).lat is None


async def test_a_calls_transcript_replaces_what_the_voice_menu_gathered(store: Store, table: Any) -> None:
    case = await open_case(store, table, "CA1", channel="voice", description="Pothole",
                           media_url=["https://rec/CA1.mp3"], attributes={"problem": "Pothole"})

    transcript = message("TR1", channel="voice", in_reply_to=["CA1"], description="A deep pothole by the bakery",
                         media_url=["https://rec/CA1.mp3"],
                         attributes={"transcript_of_call": "CA1", "problem": "Pothole"}, address="Main and First")
    assert await receive(store, table, transcript) == "added"

    stored = store.repo.cases[case["case_id"]]
    assert stored["description"] == "A deep pothole by the bakery"
    assert stored["media_url"] == ["https://rec/CA1.mp3"] and stored["address"] == "Main and First"
    kinds = [t["kind"] for t in store.repo.entries(case["case_id"])]
    assert kinds == ["opened", "message_added", "located", "described"]
    [described] = store.repo.entries(case["case_id"], "described")
    assert described["detail"]["replaced"] == "ivr_answer"
    assert store.repo.entries(case["case_id"], "located")[0]["detail"]["source"] == "call"


async def test_a_failing_write_rolls_back_the_claim_so_the_event_is_retried(store: Store, table: Any) -> None:
    env = event(message(), subject="k1")

    async def broken(*_a: Any, **_k: Any) -> None:
        raise ConnectionError("database went away")

    store.repo.insert_message = broken  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await store.handle(table, env)
    assert store.outbox == [] and store.inbox == set() and store.repo.cases == {}
    assert store.repo.reporters == {} and store.repo.seq == 0

    del store.repo.insert_message
    assert await store.handle(table, env) == "opened"
    assert len(store.repo.cases) == 1


# --- apply_routing -------------------------------------------------------------------------------------


async def test_a_routing_decision_updates_the_case_and_emits_case_routed(store: Store, table: Any) -> None:
    case = await open_case(store, table, lat=45.4, long=-75.7)
    later = T0 + timedelta(seconds=5)
    r = routing()
    env = event(RoutingDecided(case_id=case["case_id"], routing=r), subject=case["case_id"])

    assert await store.handle(table, env, now=later) == "routed"

    stored = store.repo.cases[case["case_id"]]
    assert (stored["service_code"], stored["queue"], stored["district"], stored["priority"]) == (
        "pothole", "roads-east", "east", 3)
    assert stored["routing"] == r.model_dump(mode="json") and stored["updated_datetime"] == later
    [entry] = store.repo.entries(case["case_id"], "routed")
    assert entry["detail"] == {"queue": "roads-east", "rule_id": "r1", "config_version": "v1"}
    [out] = store.emitted("case.routed")
    routed = out.payload(CaseRouted)
    assert routed.routing == r and routed.lat == 45.4 and routed.requested_datetime == T0
    assert routed.description == "Pothole on Main St" and out.causation_id == env.event_id


async def test_a_routing_decision_for_an_unknown_case_raises_and_claims_nothing(store: Store, table: Any) -> None:
    with pytest.raises(ValueError, match="unknown case"):
        await store.handle(table, event(RoutingDecided(case_id=uuid4(), routing=routing())))
    assert store.inbox == set() and store.outbox == []


# --- apply_dedup ---------------------------------------------------------------------------------------


async def test_a_dedup_decision_merges_the_case_into_the_matched_one(store: Store, table: Any) -> None:
    first = await open_case(store, table, "SM1")
    second = await open_case(store, table, "SM2", contact_key="k2")
    env = event(dedup(second["case_id"], first["case_id"]), subject=second["case_id"])

    assert await store.handle(table, env) == "merged"

    dup = store.repo.cases[second["case_id"]]
    assert dup["status"] == "closed" and dup["merged_into"] == first["case_id"]
    assert dup["status_notes"] == "Duplicate of DEMO-26-000001"
    assert store.repo.cases[first["case_id"]]["status"] == "open"
    [merged] = store.repo.entries(second["case_id"], "merged")
    assert merged["detail"] == {"merged_into": "DEMO-26-000001", "score": 0.9, "distance_m": 12.5,
                                "text_similarity": 0.8}
    assert store.repo.entries(first["case_id"], "absorbed")[0]["detail"]["duplicate"] == "DEMO-26-000002"
    [out] = store.emitted("case.merged")
    payload = out.payload(CaseMerged)
    assert payload.case_id == second["case_id"] and payload.merged_into == first["case_id"]
    assert payload.merged_into_service_request_id == "DEMO-26-000001" and out.subject == str(second["case_id"])
    # Both cases locked in a stable order first, so two crossing decisions cannot deadlock.
    assert store.repo.locks[:2] == sorted([first["case_id"], second["case_id"]])


async def test_a_merge_follows_the_chain_to_the_surviving_case(store: Store, table: Any) -> None:
    a = await open_case(store, table, "SM1")
    b = await open_case(store, table, "SM2")
    c = await open_case(store, table, "SM3")
    await store.handle(table, event(dedup(b["case_id"], a["case_id"])))

    assert await store.handle(table, event(dedup(c["case_id"], b["case_id"]))) == "merged"
    assert store.repo.cases[c["case_id"]]["merged_into"] == a["case_id"]
    assert store.emitted("case.merged")[-1].payload(CaseMerged).merged_into_service_request_id == "DEMO-26-000001"


async def test_a_merge_into_a_closed_case_is_skipped_with_the_reason(store: Store, table: Any) -> None:
    a = await open_case(store, table, "SM1")
    b = await open_case(store, table, "SM2")
    store.repo.cases[a["case_id"]]["status"] = "closed"
    before = len(store.emitted())

    assert await store.handle(table, event(dedup(b["case_id"], a["case_id"]))) == "skipped"

    assert store.repo.cases[b["case_id"]]["status"] == "open"
    [skipped] = store.repo.entries(b["case_id"], "merge_skipped")
    assert skipped["detail"] == {"reason": "target case no longer open", "duplicate_of": str(a["case_id"])}
    assert len(store.emitted()) == before


async def test_a_case_already_merged_is_not_merged_again(store: Store, table: Any) -> None:
    a = await open_case(store, table, "SM1")
    b = await open_case(store, table, "SM2")
    await store.handle(table, event(dedup(b["case_id"], a["case_id"])))

    assert await store.handle(table, event(dedup(b["case_id"], a["case_id"]))) == "skipped"
    assert store.repo.entries(b["case_id"], "merge_skipped")[0]["detail"]["reason"] == "case already merged"
    assert len(store.emitted("case.merged")) == 1


async def test_a_dedup_decision_for_an_unknown_case_raises(store: Store, table: Any) -> None:
    a = await open_case(store, table)
    with pytest.raises(ValueError, match="unknown case"):
        await store.handle(table, event(dedup(uuid4(), a["case_id"])))
    assert store.inbox == {("case", store.emitted()[0].causation_id)}  # only the opening's claim


# --- record_notification -------------------------------------------------------------------------------


async def test_a_notification_is_written_on_the_timeline_and_its_message_id_remembered(
        store: Store, table: Any) -> None:
    case = await open_case(store, table)
    env = event(outcome(case["case_id"], provider_message_id="<ack1@omni311>"), subject=case["case_id"])

    assert await store.handle(table, env) == "recorded"

    [entry] = store.repo.entries(case["case_id"], "notification_sent")
    assert entry["detail"] == {"kind": "acknowledgement", "channel": "email", "reason": None, "recipient_key": "r1"}
    assert entry["event_id"] == env.event_id
    assert store.repo.outbound == {"<ack1@omni311>": case["case_id"]}
    assert len(store.emitted()) == 1  # only case.opened: a record announces nothing


async def test_a_failed_notification_without_a_message_id_is_recorded_only(store: Store, table: Any) -> None:
    case = await open_case(store, table)
    assert await store.handle(table, event(outcome(case["case_id"], outcome="failed", reason="opted out"))) == (
        "recorded")
    assert store.repo.entries(case["case_id"], "notification_failed")[0]["detail"]["reason"] == "opted out"
    assert store.repo.outbound == {}


async def test_a_notification_for_an_unknown_case_raises(store: Store, table: Any) -> None:
    with pytest.raises(ValueError, match="unknown case"):
        await store.handle(table, event(outcome(uuid4())))
    assert store.inbox == set()


# --- change_status (a staff action: no consumed event) -------------------------------------------------


async def change(store: Store, command: ChangeStatus, *, now: datetime = T0) -> dict[str, Any] | None:
    async with store.uow(now=now) as uow:
        return await h.change_status(command, uow)


async def test_a_status_change_emits_with_the_cases_correlation_id_and_no_causation(store: Store, table: Any) -> None:
    case = await open_case(store, table)
    later = T0 + timedelta(hours=1)

    got = await change(store, ChangeStatus(case["case_id"], "closed", "Fixed", actor="agent-7"), now=later)

    assert got is not None and got["status"] == "closed" and got["status_notes"] == "Fixed"
    assert got["updated_datetime"] == later
    [entry] = store.repo.entries(case["case_id"], "status_changed")
    assert entry["event_id"] is None
    assert entry["detail"] == {"status": "closed", "status_notes": "Fixed", "actor": "agent-7"}
    [out] = store.emitted("case.status_changed")
    assert out.correlation_id == case["correlation_id"] and out.causation_id is None
    assert out.subject == str(case["case_id"]) and out.producer == "case"
    changed = out.payload(CaseStatusChanged)
    assert (changed.status, changed.status_notes, changed.service_request_id) == ("closed", "Fixed", "DEMO-26-000001")
    assert store.inbox == {("case", store.emitted("case.opened")[0].causation_id)}  # nothing claimed


async def test_setting_the_status_a_case_already_has_changes_nothing(store: Store, table: Any) -> None:
    case = await open_case(store, table)

    got = await change(store, ChangeStatus(case["case_id"], "open"))

    assert got is not None and got["status"] == "open"
    assert store.emitted("case.status_changed") == [] and store.repo.entries(case["case_id"], "status_changed") == []


async def test_a_status_change_for_an_unknown_case_answers_none(store: Store) -> None:
    assert await change(store, ChangeStatus(uuid4(), "closed")) is None
    assert store.outbox == []


# --- the table -----------------------------------------------------------------------------------------


async def test_other_lifecycle_events_are_not_the_case_services(store: Store, table: Any) -> None:
    changed = CaseStatusChanged(case_id=uuid4(), service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                                status="closed")
    assert await store.handle(table, event(changed)) is None
    assert store.inbox == set()


def test_the_table_lists_the_four_consumed_events(table: Any) -> None:
    assert set(table) == {"intake.message_received", "routing.decided", "dedup.decided", "notification.recorded"}
