"""Case handlers on an in-memory unit of work: opening and threading cases, routing, merges, notification
records, with replays that change nothing and failures that roll back; the workflow moves they make and
the SLA clock hooks they call (routing arms, a merge stops, a reporter's answer resumes), and duplicate
suggestions kept for review."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from case_fakes import FakeCaseRepository, RecordingClocks, demo

from services.case.domain.commands import Actor, Transition
from services.case.service_layer import handlers as h
from services.case.service_layer import staff as s
from shared.events import (
    CaseMerged,
    CaseMessageAdded,
    CaseOpened,
    CaseRouted,
    CaseStatusChanged,
    DedupDecided,
    DedupSuggested,
    MessageReceived,
    NotificationRecorded,
    RoutingDecided,
    RoutingFields,
)
from support.uow import T0, FakeStore, event



Store = FakeStore[FakeCaseRepository]


@pytest.fixture
def clocks() -> RecordingClocks:
    return RecordingClocks()


@pytest.fixture
def table(clocks: RecordingClocks) -> Any:
    return h.handlers(demo(), clocks=clocks)


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
    assert stored["workflow_status"] == "acknowledged"
    [entry] = store.repo.entries(case["case_id"], "routed")
    assert entry["detail"] == {"queue": "roads-east", "rule_id": "r1", "config_version": "v1", "source": "automatic",
                               "recategorised": False, "service_code": "pothole",
                               "sla_due_at": (T0 + timedelta(days=2)).isoformat(),
                               "before": {"workflow_status": "new"}, "after": {"workflow_status": "acknowledged"}}
    [out] = store.emitted("case.routed")
    routed = out.payload(CaseRouted)
    assert routed.routing == r and routed.lat == 45.4 and routed.requested_datetime == T0
    assert routed.description == "Pothole on Main St" and out.causation_id == env.event_id


async def test_case_routed_carries_the_contact_key_of_the_reporter_who_opened_the_case(store: Store,
                                                                                      table: Any) -> None:
    case = await open_case(store, table, contact_key="ck_opener", lat=45.4, long=-75.7)
    other = await open_case(store, table, "SM2", contact_key="ck_other", lat=45.4, long=-75.7)
    for c in (case, other):
        await store.handle(table, event(RoutingDecided(case_id=c["case_id"], routing=routing()), subject=c["case_id"]))

    routed = [out.payload(CaseRouted) for out in store.emitted("case.routed")]
    assert [(r.case_id, r.contact_key) for r in routed] == [(case["case_id"], "ck_opener"),
                                                            (other["case_id"], "ck_other")]


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
    assert entry["detail"] == {"kind": "acknowledgement", "notice": None, "channel": "email", "reason": None,
                               "recipient_key": "r1"}
    assert entry["event_id"] == env.event_id
    assert store.repo.outbound == {"<ack1@omni311>": case["case_id"]}
    assert len(store.emitted()) == 1  # only case.opened: a record announces nothing


async def test_the_notifiers_finer_notice_is_kept_on_the_timeline(store: Store, table: Any) -> None:
    case = await open_case(store, table)
    env = event(outcome(case["case_id"], kind="status_changed", notice="public_update",
                        provider_message_id="<upd1@omni311>"), subject=case["case_id"])

    assert await store.handle(table, env) == "recorded"

    [entry] = store.repo.entries(case["case_id"], "notification_sent")
    assert (entry["detail"]["kind"], entry["detail"]["notice"]) == ("status_changed", "public_update")


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


# --- the table -----------------------------------------------------------------------------------------


async def test_other_lifecycle_events_are_not_the_case_services(store: Store, table: Any) -> None:
    changed = CaseStatusChanged(case_id=uuid4(), service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                                status="closed")
    assert await store.handle(table, event(changed)) is None
    assert store.inbox == set()


def test_the_table_lists_the_eleven_consumed_events(table: Any) -> None:
    assert set(table) == {"intake.message_received", "intake.follow_requested", "intake.survey_answered",
                          "intake.message_withdrawn", "routing.decided", "dedup.decided", "dedup.suggested", "notification.recorded",
                          "forwarding.case_forwarded", "forwarding.forward_failed", "forwarding.status_reported"}
    assert set(table) == h.CONSUMED_TYPES, "the set-based paths skip what the table does not name"


# --- the workflow and the SLA clock hooks --------------------------------------------------------------

SUPERVISOR = Actor("u-sup", "Sam Supervisor", "supervisor", department="public-works")


async def routed_case(store: Store, table: Any, channel_message_id: str = "SM1", **kw: Any) -> dict[str, Any]:
    case = await open_case(store, table, channel_message_id, **kw)
    await store.handle(table, event(RoutingDecided(case_id=case["case_id"], routing=routing(queue="roads"))))
    return dict(store.repo.cases[case["case_id"]])


async def test_a_new_case_starts_in_the_initial_status_and_routing_acknowledges_it_and_arms_its_clock(
        store: Store, table: Any, clocks: RecordingClocks) -> None:
    case = await open_case(store, table)
    assert case["workflow_status"] == "new"

    routed = await routed_case(store, table, "SM2")
    assert routed["workflow_status"] == "acknowledged"
    assert clocks.calls == [("arm", routed["service_request_id"], "acknowledged", T0 + timedelta(days=2))]


async def test_a_second_routing_keeps_the_status_and_says_it_was_a_recategorisation(
        store: Store, table: Any) -> None:
    case = await routed_case(store, table)
    store.repo.cases[case["case_id"]]["workflow_status"] = "in_progress"

    manual = RoutingDecided(case_id=case["case_id"], routing=routing(queue="lighting", service_code="streetlight",
                                                                     category_source="service_code", source="manual"))
    assert await store.handle(table, event(manual)) == "routed"

    assert store.repo.cases[case["case_id"]]["workflow_status"] == "in_progress"
    entry = store.repo.entries(case["case_id"], "routed")[-1]["detail"]
    assert entry["source"] == "manual" and entry["recategorised"] is True
    assert entry["before"] == entry["after"] == {"workflow_status": "in_progress"}


async def test_a_routing_decision_for_a_closed_case_arms_no_clock(store: Store, table: Any,
                                                                  clocks: RecordingClocks) -> None:
    case = await open_case(store, table)
    store.repo.cases[case["case_id"]]["status"] = "closed"
    await store.handle(table, event(RoutingDecided(case_id=case["case_id"], routing=routing())))
    assert clocks.calls == []


async def test_a_dedup_merge_puts_the_duplicate_in_the_merged_status_remembering_its_own_and_stops_its_clock(
        store: Store, table: Any, clocks: RecordingClocks) -> None:
    first = await routed_case(store, table, "SM1")
    second = await routed_case(store, table, "SM2", contact_key="k2")
    store.repo.cases[second["case_id"]]["workflow_status"] = "in_progress"

    assert await store.handle(table, event(dedup(second["case_id"], first["case_id"]))) == "merged"

    dup = store.repo.cases[second["case_id"]]
    assert (dup["workflow_status"], dup["workflow_before_merge"]) == ("duplicate", "in_progress")
    assert clocks.calls[-1] == ("stop", "DEMO-26-000002", "duplicate", None)


async def test_a_reporters_answer_moves_a_case_waiting_on_them_to_in_progress_and_resumes_its_clock(
        store: Store, table: Any, clocks: RecordingClocks) -> None:
    case = await routed_case(store, table)
    async with store.uow() as uow:
        await s.transition(Transition(case["case_id"], SUPERVISOR, "waiting_on_resident"), uow, jurisdiction=demo(),
                           clocks=clocks)
    assert clocks.hooks()[-1] == "pause"
    later = T0 + timedelta(hours=3)

    answer = message("SM9", in_reply_to=["SM1"], description="It is by the bakery")
    env = event(answer, subject="k1", now=later)
    assert await store.handle(table, env, now=later) == "added"

    stored = store.repo.cases[case["case_id"]]
    assert stored["workflow_status"] == "in_progress"
    entry = store.repo.entries(case["case_id"], "status_changed")[-1]
    assert entry["event_id"] == env.event_id
    assert entry["detail"]["actor"] == "system" and entry["detail"]["role"] == "system"
    assert entry["detail"]["before"] == {"workflow_status": "waiting_on_resident"}
    assert entry["detail"]["after"] == {"workflow_status": "in_progress"}
    out = store.emitted("case.status_changed")[-1]
    changed = out.payload(CaseStatusChanged)
    assert (changed.workflow_status, changed.previous_workflow_status, changed.status) == (
        "in_progress", "waiting_on_resident", "open")
    assert out.causation_id == env.event_id
    assert clocks.calls[-1] == ("resume", case["service_request_id"], "in_progress", None)


async def test_a_message_from_someone_else_does_not_end_the_wait(store: Store, table: Any) -> None:
    case = await routed_case(store, table, channel="email", channel_message_id="<m1@resident>")
    store.repo.cases[case["case_id"]]["workflow_status"] = "waiting_on_resident"

    other = message("<m2@other>", channel="email", in_reply_to=["<m1@resident>"], contact_key="k-other")
    assert await receive(store, table, other) == "added"
    assert store.repo.cases[case["case_id"]]["workflow_status"] == "waiting_on_resident"
    assert store.emitted("case.status_changed") == []


async def test_a_message_on_a_case_in_progress_moves_nothing(store: Store, table: Any) -> None:
    case = await routed_case(store, table)
    store.repo.cases[case["case_id"]]["workflow_status"] = "in_progress"
    assert await receive(store, table, message("SM9", in_reply_to=["SM1"])) == "added"
    assert store.emitted("case.status_changed") == []


# --- dedup.suggested -----------------------------------------------------------------------------------


def suggested(case_id: UUID, duplicate_of: UUID, score: float = 0.45) -> DedupSuggested:
    return DedupSuggested(case_id=case_id, duplicate_of=duplicate_of, score=score, distance_m=40, text_similarity=0.5,
                          window_hours=72, radius_m=50, evidence={"same_service_code": True}, review_threshold=0.35,
                          merge_threshold=0.55)


async def test_a_suggestion_is_kept_pending_once_per_event_and_once_per_pair(store: Store, table: Any) -> None:
    a = await routed_case(store, table, "SM1")
    b = await routed_case(store, table, "SM2", contact_key="k2")
    env = event(suggested(b["case_id"], a["case_id"]))

    assert await store.handle(table, env) == "suggested"
    assert await store.handle(table, env) == "duplicate"
    assert await store.handle(table, event(suggested(b["case_id"], a["case_id"], 0.5))) == "already_pending"

    [row] = store.repo.suggestions.values()
    assert (row["case_id"], row["duplicate_of"], row["status"], row["score"]) == (b["case_id"], a["case_id"],
                                                                                  "pending", 0.45)
    assert row["evidence"]["same_service_code"] is True and row["evidence"]["review_threshold"] == 0.35
    [entry] = store.repo.entries(b["case_id"], "merge_suggested")
    assert entry["detail"]["suggestion_id"] == str(row["id"])
    assert store.repo.cases[b["case_id"]]["status"] == "open"  # a suggestion merges nothing
    assert store.emitted("case.merged") == []


async def test_a_suggestion_about_an_unknown_case_raises_and_claims_nothing(store: Store, table: Any) -> None:
    a = await routed_case(store, table)
    claims = set(store.inbox)
    with pytest.raises(ValueError, match="unknown case"):
        await store.handle(table, event(suggested(uuid4(), a["case_id"])))
    assert store.inbox == claims and store.repo.suggestions == {}


async def test_control_characters_anywhere_in_a_message_are_removed_before_it_is_stored(
        store: Store, table: Any) -> None:
    # PostgreSQL refuses NUL in text and jsonb: a public Open311 post with one in first_name or the address
    # failed the case consumer on every attempt, and the report went to the dead letters instead of a case.
    msg = message("SM\x00-9", pii={"first_name": "A\x00nn", "email": "ann\x01@example.org"},
                  address="12 Main\x00 St", media_url=["https://m/\x00p.jpg"], description="hole\x00 here")

    assert await store.handle(table, event(msg, subject=msg.contact_key)) == "opened"

    [case] = store.repo.cases.values()
    assert (case["address"], case["media_url"], case["description"]) == ("12 Main St", ["https://m/p.jpg"],
                                                                         "hole here")
    assert store.repo.reporters["k1"]["pii"]["first_name"] == "Ann"
    assert store.repo.reporters["k1"]["pii"]["email"] == "ann@example.org"
    [stored] = store.repo.messages
    assert stored["channel_message_id"] == "SM-9"
