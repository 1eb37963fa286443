"""Staff commands on an in-memory unit of work (docs/staff-work.md): each allowed command changes the case,
writes one audited timeline entry and emits its event with the case's correlation id; each refusal (403,
404, 409, 422) changes nothing and emits nothing; repeating a command that changes nothing writes nothing.
The demo jurisdiction's workflow, queues, teams and canned responses."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from case_fakes import FakeCaseRepository, RecordingClocks, Store, demo

from services.case.domain import commands as c
from services.case.domain.staff import Conflict, Forbidden, Invalid, NotFound, StaffError
from services.case.service_layer import handlers as h
from services.case.service_layer import staff as s
from shared.events import (
    CaseAssigned,
    CaseMerged,
    CaseOpened,
    CasePrioritySet,
    CasePublicUpdate,
    CaseRecategorised,
    CaseReplyRequested,
    CaseStatusChanged,
    CaseUnmerged,
    DedupSuggested,
    MessageReceived,
    RoutingDecided,
    RoutingFields,
)
from support.uow import T0, FakeStore, event

STAFF = c.Actor("u-staff", "Sasha Staff", "department_staff", "public-works", frozenset({"roads-north"}))
STAFF2 = c.Actor("u-staff2", "Robin Staff", "department_staff", "public-works", frozenset({"roads-south"}))
SUPERVISOR = c.Actor("u-sup", "Sam Supervisor", "supervisor", "public-works")
ADMIN = c.Actor("u-admin", "Ada Admin", "administrator")
AGENT = c.Actor("u-agent", "Alex Agent", "call_agent")
WATER = c.Actor("u-water", "Wes Water", "department_staff", "water", frozenset({"water-crew"}))
LATER = T0 + timedelta(hours=2)


@pytest.fixture
def clocks() -> RecordingClocks:
    return RecordingClocks()


@pytest.fixture
def store() -> Store:
    return FakeStore(FakeCaseRepository(), "case")


@pytest.fixture
def table() -> Any:
    return h.handlers(demo())


async def new_case(store: Store, table: Any, n: int = 1, *, queue: str | None = "roads", contact_key: str = "k1",
                   channel: str = "sms") -> dict[str, Any]:
    """A case opened from an SMS and, with a `queue`, routed there (acknowledged)."""
    msg = MessageReceived(channel=channel, channel_message_id=f"M{n}", contact_key=contact_key, received_at=T0,
                          description=f"Pothole {n} on Main St", lat=45.4, long=-75.7, language="en")
    assert await store.handle(table, event(msg, subject=contact_key)) == "opened"
    case_id = store.emitted("case.opened")[-1].payload(CaseOpened).case_id
    if queue is not None:
        r = RoutingFields(service_code="pothole", service_name="Pothole", category_source="keywords",
                          agency_responsible="Public Works", queue=queue, priority=3, rule_id="r1",
                          config_version="v1", sla_due_at=T0 + timedelta(days=2))
        await store.handle(table, event(RoutingDecided(case_id=case_id, routing=r)))
    return dict(store.repo.cases[case_id])


async def run(store: Store, command: Callable[..., Awaitable[dict[str, Any]]], cmd: Any, **kw: Any) -> dict[str, Any]:
    async with store.uow(now=LATER) as uow:
        return await command(cmd, uow, jurisdiction=demo(), **kw)


def state(store: Store) -> tuple[Any, int, int]:
    return copy.deepcopy(vars(store.repo)), len(store.outbox), store.commits


async def refused(store: Store, error: type[StaffError], command: Callable[..., Awaitable[Any]], cmd: Any,
                  match: str | None = None, **kw: Any) -> StaffError:
    """Run a command that must be refused with `error`; nothing in the store may change."""
    before = state(store)
    with pytest.raises(error, match=match) as info:
        await run(store, command, cmd, **kw)
    repo, outbox, commits = before
    assert vars(store.repo) == repo and len(store.outbox) == outbox and store.commits == commits
    return info.value


def last_entry(store: Store, case_id: UUID) -> dict[str, Any]:
    return store.repo.entries(case_id)[-1]


def audited(entry: dict[str, Any], actor: c.Actor, kind: str) -> dict[str, Any]:
    assert entry["kind"] == kind and entry["event_id"] is None and entry["at"] == LATER
    d = entry["detail"]
    assert (d["actor"], d["actor_name"], d["role"]) == (actor.subject, actor.name, actor.role)
    assert "before" in d and "after" in d
    return dict(d)


def emitted_once(store: Store, event_type: str, case: dict[str, Any]) -> Any:
    [out] = store.emitted(event_type)
    assert out.correlation_id == case["correlation_id"] and out.causation_id is None
    assert out.subject == str(case["case_id"])
    return out


# --- claim and assign ----------------------------------------------------------------------------------


async def test_staff_claim_a_case_of_their_department_it_becomes_assigned(store: Store, table: Any,
                                                                          clocks: RecordingClocks) -> None:
    case = await new_case(store, table)

    got = await run(store, s.claim, c.Claim(case["case_id"], STAFF), clocks=clocks)

    assert (got["assignee"], got["workflow_status"], got["updated_datetime"]) == ("u-staff", "assigned", LATER)
    d = audited(last_entry(store, case["case_id"]), STAFF, "claimed")
    assert d["before"] == {"assignee": None, "workflow_status": "acknowledged"}
    assert d["after"] == {"assignee": "u-staff", "workflow_status": "assigned"}
    assigned = emitted_once(store, "case.assigned", case).payload(CaseAssigned)
    assert (assigned.assignee, assigned.actor, assigned.actor_role, assigned.queue) == (
        "u-staff", "u-staff", "department_staff", "roads")
    changed = emitted_once(store, "case.status_changed", case).payload(CaseStatusChanged)
    assert (changed.workflow_status, changed.previous_workflow_status, changed.notify) == (
        "assigned", "acknowledged", False)


async def test_claiming_ones_own_case_again_changes_nothing(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await run(store, s.claim, c.Claim(case["case_id"], STAFF))
    before = state(store)[:2]

    await run(store, s.claim, c.Claim(case["case_id"], STAFF))
    assert state(store)[:2] == before


async def test_staff_cannot_claim_a_case_someone_else_holds_a_supervisor_can(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await run(store, s.claim, c.Claim(case["case_id"], STAFF))

    await refused(store, Conflict, s.claim, c.Claim(case["case_id"], STAFF2), "already assigned to u-staff")
    got = await run(store, s.claim, c.Claim(case["case_id"], SUPERVISOR))
    assert got["assignee"] == "u-sup"


@pytest.mark.parametrize("actor", [WATER, AGENT, c.Actor("u-x", "No Dept", "department_staff", None)])
async def test_a_claim_outside_ones_department_or_role_is_403(store: Store, table: Any, actor: c.Actor) -> None:
    case = await new_case(store, table)
    await refused(store, Forbidden, s.claim, c.Claim(case["case_id"], actor))


async def test_an_unrouted_case_belongs_to_no_department_only_an_administrator_works_it(
        store: Store, table: Any) -> None:
    case = await new_case(store, table, queue=None)
    await refused(store, Forbidden, s.claim, c.Claim(case["case_id"], SUPERVISOR), "not in a queue of your department")
    got = await run(store, s.claim, c.Claim(case["case_id"], ADMIN))
    assert got["assignee"] == "u-admin" and got["workflow_status"] == "assigned"


async def test_an_unknown_case_is_not_found(store: Store) -> None:
    await refused(store, NotFound, s.claim, c.Claim(uuid4(), ADMIN))


async def test_a_supervisor_assigns_anyone_and_a_team_and_reassigns_with_a_reason(store: Store, table: Any) -> None:
    case = await new_case(store, table)

    got = await run(store, s.assign, c.Assign(case["case_id"], SUPERVISOR, "u-staff2", "roads-south"))
    assert (got["assignee"], got["team"], got["workflow_status"]) == ("u-staff2", "roads-south", "assigned")

    await refused(store, Invalid, s.assign, c.Assign(case["case_id"], SUPERVISOR, "u-staff"), "reason is required")
    got = await run(store, s.assign, c.Assign(case["case_id"], SUPERVISOR, "u-staff", "roads-north", "crew nearby"))
    assert got["assignee"] == "u-staff"
    d = audited(last_entry(store, case["case_id"]), SUPERVISOR, "assigned")
    assert d["reason"] == "crew nearby"
    assert d["before"] == {"assignee": "u-staff2", "team": "roads-south"}
    assert d["after"] == {"assignee": "u-staff", "team": "roads-north"}
    last = store.emitted("case.assigned")[-1].payload(CaseAssigned)
    assert (last.previous_assignee, last.reason) == ("u-staff2", "crew nearby")


async def test_the_same_assignment_again_changes_nothing(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await run(store, s.assign, c.Assign(case["case_id"], SUPERVISOR, "u-staff2"))
    before = state(store)[:2]
    await run(store, s.assign, c.Assign(case["case_id"], SUPERVISOR, "u-staff2", reason="again"))
    assert state(store)[:2] == before


@pytest.mark.parametrize(("cmd", "error", "match"), [
    (dict(assignee="u-staff2"), Forbidden, "only to themselves"),
    (dict(assignee="u-staff", team="roads-south"), Forbidden, "their own team"),
    (dict(assignee="u-staff", team="no-such-team"), Invalid, "not a team"),
    (dict(assignee="u-staff", team="water-crew"), Invalid, "not a team"),
])
async def test_department_staff_assign_only_to_themselves_and_their_teams(
        store: Store, table: Any, cmd: dict[str, Any], error: type[StaffError], match: str) -> None:
    case = await new_case(store, table)
    await refused(store, error, s.assign, c.Assign(case["case_id"], STAFF, **cmd), match)


async def test_department_staff_may_take_a_case_to_themselves_and_their_team(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    got = await run(store, s.assign, c.Assign(case["case_id"], STAFF, "u-staff", "roads-north"))
    assert (got["assignee"], got["team"]) == ("u-staff", "roads-north")


async def test_staff_cannot_unassign_someone_elses_case(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await run(store, s.assign, c.Assign(case["case_id"], SUPERVISOR, "u-staff2"))
    await refused(store, Forbidden, s.assign, c.Assign(case["case_id"], STAFF, reason="not mine"), "ask a supervisor")
    # Nor take it from its holder by handing it to their own team (a claim of a held case is refused too).
    await refused(store, Forbidden, s.assign, c.Assign(case["case_id"], STAFF, None, "roads-north", "ours"),
                  "ask a supervisor")
    await refused(store, Forbidden, s.assign, c.Assign(case["case_id"], STAFF, "u-staff", None, "mine now"),
                  "ask a supervisor")


# --- transitions ---------------------------------------------------------------------------------------


async def test_a_transition_moves_the_status_emits_with_notify_and_moves_the_clock(
        store: Store, table: Any, clocks: RecordingClocks) -> None:
    case = await new_case(store, table)

    got = await run(store, s.transition, c.Transition(case["case_id"], STAFF, "waiting_on_resident"), clocks=clocks)

    assert (got["workflow_status"], got["status"]) == ("waiting_on_resident", "open")
    d = audited(last_entry(store, case["case_id"]), STAFF, "status_changed")
    assert d["before"] == {"workflow_status": "acknowledged"} and d["after"] == {"workflow_status": "waiting_on_resident"}
    changed = emitted_once(store, "case.status_changed", case).payload(CaseStatusChanged)
    assert (changed.workflow_status, changed.previous_workflow_status, changed.notify) == (
        "waiting_on_resident", "acknowledged", True)
    assert clocks.hooks() == ["pause"]

    await run(store, s.transition, c.Transition(case["case_id"], STAFF, "in_progress"), clocks=clocks)
    got = await run(store, s.transition, c.Transition(case["case_id"], STAFF, "resolved", note="Patched"), clocks=clocks)
    assert (got["workflow_status"], got["status"], got["status_notes"]) == ("resolved", "closed", "Patched")
    assert clocks.hooks() == ["pause", "resume", "stop"]

    # Reopening is a transition the workflow allows; the clock runs again.
    got = await run(store, s.transition, c.Transition(case["case_id"], STAFF, "in_progress"), clocks=clocks)
    assert (got["status"], got["status_notes"]) == ("open", None)
    assert clocks.hooks()[-1] == "resume"


async def test_a_transition_the_workflow_refuses_is_409_naming_the_allowed_ones(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    exc = await refused(store, Conflict, s.transition, c.Transition(case["case_id"], STAFF, "closed"))
    assert "resolved" in str(exc) and "acknowledged" in str(exc)
    # Named as the case page offers them: never the merged status, which only a merge reaches.
    assert "duplicate" not in str(exc)


async def test_duplicate_is_reached_by_a_merge_not_a_transition(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await refused(store, Conflict, s.transition, c.Transition(case["case_id"], STAFF, "duplicate"), "by a merge")


async def test_an_unknown_status_is_422(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await refused(store, Invalid, s.transition, c.Transition(case["case_id"], STAFF, "teleported"), "unknown status")


async def test_the_status_a_case_has_is_no_transition(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    before = state(store)[:2]
    await run(store, s.transition, c.Transition(case["case_id"], STAFF, "acknowledged"))
    assert state(store)[:2] == before


async def test_the_older_open311_status_change_goes_through_the_workflow(store: Store, table: Any) -> None:
    case = await new_case(store, table)

    got = await run(store, s.change_status, c.ChangeStatus(case["case_id"], "closed", SUPERVISOR, "Fixed"))
    assert (got["status"], got["workflow_status"], got["status_notes"]) == ("closed", "resolved", "Fixed")
    d = audited(last_entry(store, case["case_id"]), SUPERVISOR, "status_changed")
    assert d["actor"] == "u-sup"  # from the token, never from a body
    out = emitted_once(store, "case.status_changed", case)
    assert out.payload(CaseStatusChanged).status == "closed"

    got = await run(store, s.change_status, c.ChangeStatus(case["case_id"], "closed", SUPERVISOR, "Fixed"))
    assert len(store.emitted("case.status_changed")) == 1  # the same status and notes: nothing
    got = await run(store, s.change_status, c.ChangeStatus(case["case_id"], "closed", SUPERVISOR, "Fixed for good"))
    assert (got["workflow_status"], got["status_notes"]) == ("resolved", "Fixed for good")
    notes = store.emitted("case.status_changed")[-1].payload(CaseStatusChanged)
    assert (notes.status_notes, notes.workflow_status, notes.previous_workflow_status, notes.notify) == (
        "Fixed for good", "resolved", "resolved", False)
    got = await run(store, s.change_status, c.ChangeStatus(case["case_id"], "open", SUPERVISOR))
    assert (got["status"], got["workflow_status"]) == ("open", "in_progress")


# --- priority, recategorise ----------------------------------------------------------------------------


async def test_priority_is_set_audited_and_emitted_the_same_one_again_is_nothing(store: Store, table: Any) -> None:
    case = await new_case(store, table)

    got = await run(store, s.set_priority, c.SetPriority(case["case_id"], STAFF, 1, "school zone"))

    assert got["priority"] == 1
    d = audited(last_entry(store, case["case_id"]), STAFF, "priority_set")
    assert (d["before"], d["after"], d["reason"]) == ({"priority": 3}, {"priority": 1}, "school zone")
    p = emitted_once(store, "case.priority_set", case).payload(CasePrioritySet)
    assert (p.priority, p.previous_priority) == (1, 3)
    before = state(store)[:2]
    await run(store, s.set_priority, c.SetPriority(case["case_id"], STAFF, 1))
    assert state(store)[:2] == before


@pytest.mark.parametrize("priority", [0, 6])
async def test_a_priority_out_of_range_is_422(store: Store, table: Any, priority: int) -> None:
    case = await new_case(store, table)
    await refused(store, Invalid, s.set_priority, c.SetPriority(case["case_id"], STAFF, priority))


async def test_recategorising_sets_the_code_and_asks_the_router_again(store: Store, table: Any) -> None:
    case = await new_case(store, table)

    got = await run(store, s.recategorise, c.Recategorise(case["case_id"], STAFF, "streetlight", "photo: dark lamp"))

    assert (got["service_code"], got["service_name"]) == ("streetlight", demo().service("streetlight").service_name)
    d = audited(last_entry(store, case["case_id"]), STAFF, "recategorised")
    assert d["before"]["service_code"] == "pothole" and d["after"]["service_code"] == "streetlight"
    r = emitted_once(store, "case.recategorised", case).payload(CaseRecategorised)
    assert (r.service_code, r.previous_service_code, r.reason, r.lat) == ("streetlight", "pothole", "photo: dark lamp",
                                                                          45.4)
    assert r.requested_datetime == T0 and r.description == "Pothole 1 on Main St"


async def test_recategorising_to_an_unknown_code_or_without_a_reason_is_422(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await refused(store, Invalid, s.recategorise, c.Recategorise(case["case_id"], STAFF, "unicorns", "why not"))
    await refused(store, Invalid, s.recategorise, c.Recategorise(case["case_id"], STAFF, "streetlight", "  "))


async def test_a_closed_case_is_not_reprioritised(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await run(store, s.transition, c.Transition(case["case_id"], STAFF, "resolved"))
    await refused(store, Conflict, s.set_priority, c.SetPriority(case["case_id"], STAFF, 1), "closed")


# --- notes, updates, replies ---------------------------------------------------------------------------


async def test_an_internal_note_is_on_the_timeline_only_never_an_event(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    events = len(store.outbox)

    for actor in (STAFF, AGENT):
        await run(store, s.add_note, c.AddNote(case["case_id"], actor, "  Caller says it is deep  "))
        d = audited(last_entry(store, case["case_id"]), actor, "internal_note")
        assert d["text"] == "Caller says it is deep"
    assert len(store.outbox) == events
    assert not any("Caller says" in e.model_dump_json() for e in store.outbox)


async def test_an_empty_note_is_422_and_other_departments_cannot_write_one(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await refused(store, Invalid, s.add_note, c.AddNote(case["case_id"], STAFF, "   "))
    await refused(store, Forbidden, s.add_note, c.AddNote(case["case_id"], WATER, "hi"))


async def test_a_public_update_is_emitted_for_every_reporter(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    update_id = uuid4()

    await run(store, s.post_update, c.PostUpdate(case["case_id"], STAFF, "Crew booked Tuesday.", update_id, "en"))

    d = audited(last_entry(store, case["case_id"]), STAFF, "public_update")
    assert (d["text"], d["update_id"]) == ("Crew booked Tuesday.", str(update_id))
    u = emitted_once(store, "case.public_update", case).payload(CasePublicUpdate)
    assert (u.text, u.update_id, u.language, u.actor) == ("Crew booked Tuesday.", update_id, "en", "u-staff")


async def test_a_public_update_or_reply_sent_twice_with_its_id_is_written_and_told_once(store: Store,
                                                                                        table: Any) -> None:
    case = await new_case(store, table)
    update_id, reply_id = uuid4(), uuid4()
    for _ in range(2):  # a double click, a browser retry
        await run(store, s.post_update, c.PostUpdate(case["case_id"], STAFF, "Crew booked Tuesday.", update_id))
        await run(store, s.reply, c.Reply(case["case_id"], STAFF, "k1", reply_id, text="Which corner?"))
    assert len(store.repo.entries(case["case_id"], "public_update")) == 1
    assert len(store.repo.entries(case["case_id"], "reply")) == 1
    assert len(store.emitted("case.public_update")) == len(store.emitted("case.reply_requested")) == 1
    await run(store, s.post_update, c.PostUpdate(case["case_id"], STAFF, "Crew booked Tuesday.", uuid4()))
    assert len(store.emitted("case.public_update")) == 2, "another id is another update"


async def test_a_call_agent_posts_no_public_update(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await refused(store, Forbidden, s.post_update, c.PostUpdate(case["case_id"], AGENT, "hi", uuid4()))


async def test_a_reply_goes_to_a_reporter_of_the_case_or_of_one_merged_into_it(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2, contact_key="k2")
    await run(store, s.merge, c.Merge(second["case_id"], STAFF, first["case_id"]))

    for key in ("k1", "k2"):
        await run(store, s.reply, c.Reply(first["case_id"], STAFF, key, uuid4(), text="Which corner?"))
    replies = [e.payload(CaseReplyRequested) for e in store.emitted("case.reply_requested")]
    assert [(r.contact_key, r.text, r.language) for r in replies] == [("k1", "Which corner?", "en"),
                                                                       ("k2", "Which corner?", "en")]
    d = audited(last_entry(store, first["case_id"]), STAFF, "reply")
    assert d["contact_key"] == "k2"

    await refused(store, Invalid, s.reply, c.Reply(first["case_id"], STAFF, "k-stranger", uuid4(), text="hi"),
                  "not a reporter")


async def test_a_reply_from_a_canned_response_in_the_requested_language(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    canned = demo().canned_response("need-location")
    assert canned is not None

    await run(store, s.reply, c.Reply(case["case_id"], STAFF, "k1", uuid4(), canned_response_id="need-location",
                                      language="fr"))

    r = store.emitted("case.reply_requested")[-1].payload(CaseReplyRequested)
    assert (r.text, r.language, r.canned_response_id) == (canned.text["fr"], "fr", "need-location")
    await refused(store, Invalid, s.reply, c.Reply(case["case_id"], STAFF, "k1", uuid4(), canned_response_id="nope"))
    await refused(store, Invalid, s.reply, c.Reply(case["case_id"], STAFF, "k1", uuid4(), canned_response_id="need-photo",
                                                   language="de"), "no text in de")
    await refused(store, Invalid, s.reply, c.Reply(case["case_id"], STAFF, "k1", uuid4()), "needs a text")


async def test_a_canned_reply_to_a_reporter_of_unknown_language_is_in_the_jurisdictions_first_locale(
        store: Store, table: Any) -> None:
    case = await new_case(store, table)
    store.repo.cases[case["case_id"]]["language"] = None
    french_first = demo().model_copy(update={"locales": ("fr", "en")})

    async with store.uow(now=LATER) as uow:
        await s.reply(c.Reply(case["case_id"], STAFF, "k1", uuid4(), canned_response_id="need-location"), uow,
                      jurisdiction=french_first)

    r = store.emitted("case.reply_requested")[-1].payload(CaseReplyRequested)
    assert r.language == "fr" and r.text == demo().canned_response("need-location").text["fr"]  # type: ignore[union-attr]


# --- merge, unmerge, suggestions ------------------------------------------------------------------------


async def test_staff_merge_closes_the_duplicate_as_a_dedup_merge_does(store: Store, table: Any,
                                                                      clocks: RecordingClocks) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2, contact_key="k2")
    await run(store, s.claim, c.Claim(second["case_id"], STAFF))

    got = await run(store, s.merge, c.Merge(second["case_id"], STAFF, first["case_id"], "same hole"), clocks=clocks)

    assert (got["status"], got["workflow_status"], got["workflow_before_merge"], got["merged_into"]) == (
        "closed", "duplicate", "assigned", first["case_id"])
    assert got["status_notes"] == "Duplicate of DEMO-26-000001"
    merged = audited(last_entry(store, second["case_id"]), STAFF, "merged")
    assert merged["reason"] == "same hole" and merged["after"]["merged_into"] == "DEMO-26-000001"
    absorbed = audited(last_entry(store, first["case_id"]), STAFF, "absorbed")
    assert absorbed["duplicate"] == "DEMO-26-000002"
    out = store.emitted("case.merged")[-1]
    assert out.correlation_id == second["correlation_id"] and out.payload(CaseMerged).merged_into == first["case_id"]
    assert clocks.hooks() == ["stop"]


async def test_a_merge_the_rules_skip_is_409(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2)
    await refused(store, Conflict, s.merge, c.Merge(first["case_id"], STAFF, first["case_id"]), "into itself")
    await run(store, s.transition, c.Transition(first["case_id"], STAFF, "resolved"))
    await refused(store, Conflict, s.merge, c.Merge(second["case_id"], STAFF, first["case_id"]), "target case no longer open")
    await refused(store, NotFound, s.merge, c.Merge(second["case_id"], STAFF, uuid4()))


async def test_a_merge_into_another_departments_case_is_403(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1, queue="water-ops")
    second = await new_case(store, table, 2)
    await refused(store, Forbidden, s.merge, c.Merge(second["case_id"], STAFF, first["case_id"]))


async def test_a_merge_whose_chain_ends_in_another_departments_case_is_403_and_changes_nothing(
        store: Store, table: Any) -> None:
    mine = await new_case(store, table, 1)
    also_mine = await new_case(store, table, 2, contact_key="k2")
    theirs = await new_case(store, table, 3, contact_key="k3", queue="water-ops")
    await run(store, s.merge, c.Merge(also_mine["case_id"], ADMIN, theirs["case_id"]))
    await refused(store, Forbidden, s.merge, c.Merge(mine["case_id"], STAFF, also_mine["case_id"]),
                  "not in a queue of your department")


async def test_unmerge_gives_the_reporter_their_own_open_case_back_and_keeps_both_steps(
        store: Store, table: Any, clocks: RecordingClocks) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2, contact_key="k2")
    await run(store, s.transition, c.Transition(second["case_id"], STAFF, "in_progress"))
    await run(store, s.merge, c.Merge(second["case_id"], STAFF, first["case_id"]))

    got = await run(store, s.unmerge, c.Unmerge(second["case_id"], SUPERVISOR, "different address"), clocks=clocks)

    assert (got["status"], got["workflow_status"], got["merged_into"], got["status_notes"]) == (
        "open", "in_progress", None, None)
    assert got["service_request_id"] == "DEMO-26-000002" and got["workflow_before_merge"] is None
    kinds = [e["kind"] for e in store.repo.entries(second["case_id"])]
    assert kinds[-2:] == ["merged", "unmerged"]
    d = audited(last_entry(store, second["case_id"]), SUPERVISOR, "unmerged")
    assert d["before"]["merged_into"] == "DEMO-26-000001" and d["after"]["merged_into"] is None
    assert d["before"]["workflow_status"] == "duplicate" and d["after"]["workflow_status"] == "in_progress"
    assert [e["kind"] for e in store.repo.entries(first["case_id"])][-2:] == ["absorbed", "released"]
    u = emitted_once(store, "case.unmerged", second).payload(CaseUnmerged)
    assert (u.unmerged_from, u.unmerged_from_service_request_id, u.status, u.workflow_status, u.reason) == (
        first["case_id"], "DEMO-26-000001", "open", "in_progress", "different address")
    assert clocks.hooks() == ["resume"]
    assert await store.repo.reporters_of(first["case_id"]) == ["k1"]  # k2 is no longer first's reporter


async def test_a_case_that_is_not_merged_cannot_be_unmerged(store: Store, table: Any) -> None:
    case = await new_case(store, table)
    await refused(store, Conflict, s.unmerge, c.Unmerge(case["case_id"], STAFF), "not merged")


async def test_a_merged_case_takes_only_notes_and_an_unmerge(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2)
    await run(store, s.merge, c.Merge(second["case_id"], STAFF, first["case_id"]))
    await refused(store, Conflict, s.transition, c.Transition(second["case_id"], STAFF, "in_progress"), "merged")
    await refused(store, Conflict, s.claim, c.Claim(second["case_id"], STAFF), "merged")
    await run(store, s.add_note, c.AddNote(second["case_id"], STAFF, "checked: really the same"))


async def suggest(store: Store, table: Any, case: dict[str, Any], of: dict[str, Any]) -> UUID:
    sug = DedupSuggested(case_id=case["case_id"], duplicate_of=of["case_id"], score=0.45, distance_m=30,
                         text_similarity=0.5, window_hours=72, radius_m=50, review_threshold=0.35, merge_threshold=0.55)
    assert await store.handle(table, event(sug)) == "suggested"
    return next(iter(store.repo.suggestions))


async def test_accepting_a_suggestion_merges_and_records_the_decision(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2, contact_key="k2")
    sid = await suggest(store, table, second, first)

    got = await run(store, s.decide_suggestion, c.DecideSuggestion(sid, STAFF, True, "same pothole"))

    assert got["merged_into"] == first["case_id"] and got["workflow_status"] == "duplicate"
    row = store.repo.suggestions[sid]
    assert (row["status"], row["decided_by"], row["decided_at"], row["reason"]) == ("accepted", "u-staff", LATER,
                                                                                  "same pothole")
    assert len(store.emitted("case.merged")) == 1
    await refused(store, Conflict, s.decide_suggestion, c.DecideSuggestion(sid, STAFF, False), "already accepted")


async def test_rejecting_a_suggestion_merges_nothing(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2)
    sid = await suggest(store, table, second, first)

    got = await run(store, s.decide_suggestion, c.DecideSuggestion(sid, SUPERVISOR, False, "other side of street"))

    assert got["status"] == "open" and got["merged_into"] is None
    assert store.repo.suggestions[sid]["status"] == "rejected"
    d = audited(last_entry(store, second["case_id"]), SUPERVISOR, "suggestion_rejected")
    assert d["reason"] == "other side of street"
    assert store.emitted("case.merged") == []


async def test_a_suggestion_whose_case_was_closed_or_merged_since_can_still_be_rejected(store: Store,
                                                                                        table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2)
    third = await new_case(store, table, 3)
    closed = await suggest(store, table, second, first)
    await run(store, s.transition, c.Transition(second["case_id"], STAFF, "resolved"))
    await refused(store, Conflict, s.decide_suggestion, c.DecideSuggestion(closed, STAFF, True), "closed")
    await run(store, s.decide_suggestion, c.DecideSuggestion(closed, STAFF, False, "resolved meanwhile"))
    assert store.repo.suggestions[closed]["status"] == "rejected"
    store.repo.suggestions.clear()
    merged = await suggest(store, table, third, first)
    await run(store, s.merge, c.Merge(third["case_id"], STAFF, first["case_id"]))
    await run(store, s.decide_suggestion, c.DecideSuggestion(merged, STAFF, False))
    assert store.repo.suggestions[merged]["status"] == "rejected"
    assert audited(last_entry(store, third["case_id"]), STAFF, "suggestion_rejected")


async def test_a_suggestion_decision_outside_ones_department_or_unknown(store: Store, table: Any) -> None:
    first = await new_case(store, table, 1)
    second = await new_case(store, table, 2)
    sid = await suggest(store, table, second, first)
    await refused(store, Forbidden, s.decide_suggestion, c.DecideSuggestion(sid, WATER, False))
    await refused(store, NotFound, s.decide_suggestion, c.DecideSuggestion(uuid4(), STAFF, True))
    assert store.repo.suggestions[sid]["status"] == "pending"


async def test_an_administrator_works_every_department(store: Store, table: Any) -> None:
    case = await new_case(store, table, queue="water-ops")
    got = await run(store, s.set_priority, c.SetPriority(case["case_id"], ADMIN, 2))
    assert got["priority"] == 2
    await refused(store, Forbidden, s.set_priority, c.SetPriority(case["case_id"], SUPERVISOR, 1))


# --- pure rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after", "move"), [
    ("acknowledged", "waiting_on_resident", "pause"), ("waiting_on_resident", "on_hold", None),
    ("on_hold", "in_progress", "resume"), ("in_progress", "resolved", "stop"), ("on_hold", "cancelled", "stop"),
    ("resolved", "closed", None), ("resolved", "in_progress", "resume"), ("new", "acknowledged", None),
    ("in_progress", "in_progress", None), ("retired_status", "in_progress", None),
])
def test_what_a_workflow_move_does_to_the_sla_clock(before: str, after: str, move: str | None) -> None:
    from services.case.domain.staff import sla_move
    assert sla_move(demo().workflow, before, after) == move


def test_addresses_are_masked_enough_to_tell_reporters_apart() -> None:
    from services.case.domain.staff import mask_address
    assert mask_address({"email": "ann.dupont@example.org", "phone": "+15145550123"}) == "a***@example.org"
    assert mask_address({"phone": "+15145550123"}) == "+1 514-***-0123"
    assert mask_address({"handle": "@annd@mastodon.social"}) == "@a***"
    assert mask_address({}) is None
