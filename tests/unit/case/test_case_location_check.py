"""The case service applies the one location check again to every message that arrives with a point (issue
12, kind 1; docs/channels.md, "One location check"): a swapped point is used swapped, a 0,0 placeholder is
dropped, a point outside is kept; the verdict (or the one the adapter carried) is kept in the case's
attributes as ``location_check`` and on its timeline as ``location_checked``."""

from __future__ import annotations

from typing import Any

import pytest

from case_fakes import FakeCaseRepository, demo
from services.case.domain.rules import carried_check, checked_location
from services.case.domain.staff import attribute_view
from services.case.service_layer import handlers as h
from shared.events import CaseMessageAdded, CaseOpened, MessageReceived
from support.uow import T0, FakeStore, event

Store = FakeStore[FakeCaseRepository]
OTTAWA = (45.4215, -75.6972)


def contains(lat: float, long: float) -> bool:
    return demo().contains(lat, long)


# --- the rule (pure) ---

def test_a_swapped_point_is_used_swapped_with_its_reason() -> None:
    got = checked_location(-75.6972, 45.4215, {}, contains=contains)
    assert (got.lat, got.long, got.corrected) == (*OTTAWA, True)
    assert got.check is not None and got.check["verdict"] == "swapped"
    assert got.check["given"] == {"lat": -75.6972, "long": 45.4215} and "swapped" in got.check["reason"]


@pytest.mark.parametrize(("lat", "long"), [(0.0, 0.0), (4e-7, -3e-7)], ids=["zero-zero", "gps-noise-near-zero"])
def test_a_placeholder_point_is_dropped(lat: float, long: float) -> None:
    got = checked_location(lat, long, {}, contains=contains)
    assert (got.lat, got.long, got.corrected) == (None, None, True)
    assert got.check is not None and got.check["verdict"] == "placeholder"


def test_a_point_inside_or_outside_is_kept_as_given() -> None:
    inside = checked_location(*OTTAWA, {}, contains=contains)
    assert (inside.lat, inside.long, inside.check, inside.corrected) == (*OTTAWA, None, False)
    outside = checked_location(40.7128, -74.006, {}, contains=contains)
    assert (outside.lat, outside.long, outside.check, outside.corrected) == (40.7128, -74.006, None, False)


def test_the_check_an_adapter_carried_is_kept_and_a_malformed_one_is_not() -> None:
    carried = {"verdict": "placeholder", "reason": "coordinates 0,0 ...", "given": {"lat": 0.0, "long": 0.0}}
    got = checked_location(None, None, {"location_check": carried}, contains=contains)
    assert (got.lat, got.check, got.corrected) == (None, carried, False)
    assert carried_check({"location_check": {"verdict": "fine", "reason": "x"}}) is None
    assert carried_check({"location_check": "swapped"}) is None
    assert carried_check({"location_check": {"verdict": "ok", "reason": None}}) is None


# --- through the handler ---

@pytest.fixture
def store() -> Store:
    return FakeStore(FakeCaseRepository(), "case")


async def _receive(store: Store, **kw: Any) -> str | None:
    fields: dict[str, Any] = {"channel": "sms", "channel_message_id": "SM1", "contact_key": "k1",
                              "received_at": T0, "description": "Pothole"}
    msg = MessageReceived(**{**fields, **kw})
    return await store.handle(h.handlers(demo()), event(msg, subject=msg.contact_key, now=T0), now=T0)


def _only_case(store: Store) -> dict[str, Any]:
    [case] = store.repo.cases.values()
    return case


async def test_an_sms_with_swapped_coordinates_opens_a_case_at_the_right_place(store: Store) -> None:
    assert await _receive(store, description="Pothole at -75.6972, 45.4215", lat=-75.6972, long=45.4215) == "opened"
    case = _only_case(store)
    assert (case["lat"], case["long"], case["location_source"]) == (*OTTAWA, "report")
    assert case["attributes"]["location_check"]["verdict"] == "swapped"
    [entry] = store.repo.entries(case["case_id"], "location_checked")
    assert entry["detail"]["verdict"] == "swapped" and entry["detail"]["applied_by"] == "case"
    opened = store.emitted("case.opened")[0].payload(CaseOpened)
    assert (opened.lat, opened.long) == OTTAWA and "location_check" not in opened.attributes


async def test_a_messenger_location_of_zero_zero_leaves_the_case_without_a_point(store: Store) -> None:
    assert await _receive(store, channel="messenger", channel_message_id="m_1", lat=0.0, long=0.0) == "opened"
    case = _only_case(store)
    assert (case["lat"], case["long"], case["location_source"]) == (None, None, None)
    check = case["attributes"]["location_check"]
    assert (check["verdict"], check["given"]) == ("placeholder", {"lat": 0.0, "long": 0.0})
    assert [e["detail"]["verdict"] for e in store.repo.entries(case["case_id"], "location_checked")] == ["placeholder"]
    assert store.emitted("case.opened")[0].payload(CaseOpened).lat is None


async def test_a_web_report_whose_placeholder_was_ignored_keeps_the_reason_on_the_case(store: Store) -> None:
    carried = {"verdict": "placeholder", "reason": "coordinates 0,0 are a placeholder", "given": {"lat": 0, "long": 0}}
    assert await _receive(store, channel="open311", channel_message_id="tok-1", address="Bank St & Somerset St W",
                          attributes={"size": "large", "location_check": carried}) == "opened"
    case = _only_case(store)
    assert case["attributes"] == {"size": "large", "location_check": carried}
    [entry] = store.repo.entries(case["case_id"], "location_checked")
    assert entry["detail"]["applied_by"] == "intake"
    assert [a["code"] for a in attribute_view(case, demo())] == ["size"]  # the check is no Open311 answer


async def test_a_swapped_answer_to_the_location_question_completes_the_case_at_the_right_place(store: Store) -> None:
    assert await _receive(store) == "opened"
    assert await _receive(store, channel_message_id="SM2", description="-75.6972, 45.4215", lat=-75.6972,
                          long=45.4215, in_reply_to=["SM1"], attributes={"completes_location_of": "SM1"}) == "added"
    case = _only_case(store)
    assert (case["lat"], case["long"]) == OTTAWA
    assert case["attributes"]["location_check"]["verdict"] == "swapped"
    [entry] = store.repo.entries(case["case_id"], "location_checked")
    assert entry["detail"]["message_id"]
    added = store.emitted("case.message_added")[0].payload(CaseMessageAdded)
    assert (added.lat, added.long) == OTTAWA


async def test_a_point_outside_is_kept_for_the_router_to_say_so(store: Store) -> None:
    assert await _receive(store, lat=40.7128, long=-74.006) == "opened"
    case = _only_case(store)
    assert (case["lat"], case["long"]) == (40.7128, -74.006) and not case["attributes"]
    assert store.repo.entries(case["case_id"], "location_checked") == []
