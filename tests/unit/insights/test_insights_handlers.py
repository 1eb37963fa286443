"""Insights handlers on an in-memory unit of work: what reaches the projection is public and scrubbed, the
department is the routed queue's, a redelivered event changes and counts nothing twice, and a failure
counts nothing."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.insights.config import department_of, phone_region
from services.insights.service_layer import handlers as h
from shared.events import (
    CaseOpened,
    CasePersonalDataErased,
    CaseRouted,
    CaseStatusChanged,
    CaseSurveyAnswered,
    HelpDeflected,
    RoutingFields,
)
from shared.jurisdiction import load_jurisdiction
from support.uow import T0, FakeStore, event


class FakeRepository:
    """Keeps what each method was given, by case."""

    def __init__(self) -> None:
        self.cases: dict[UUID, dict[str, Any]] = {}
        self.surveys: list[dict[str, Any]] = []
        self.deflections: list[dict[str, Any]] = []
        self.fail = False

    async def open_case(self, row: Any) -> bool:
        if self.fail:
            raise RuntimeError("database down")
        new = row.case_id not in self.cases
        self.cases.setdefault(row.case_id, {}).update(asdict(row))
        return new

    async def route(self, change: Any) -> bool:
        self.cases.setdefault(change.case_id, {}).update(asdict(change))
        return True

    async def change_status(self, change: Any) -> bool:
        if change.case_id not in self.cases:
            return False
        self.cases[change.case_id].update(status=change.status, status_notes=change.status_notes,
                                          closed_at=change.at if change.closed else None)
        return True

    async def erase(self, change: Any) -> bool:
        self.cases[change.case_id].update(description="", address=None, erased=True)
        return True

    async def add_survey(self, answer: Any) -> bool:
        self.surveys.append(asdict(answer))
        return True

    async def add_deflection(self, d: Any) -> bool:
        self.deflections.append(asdict(d))
        return True


class CountingMeter:
    def __init__(self) -> None:
        self.opened_counts: list[tuple[str, str]] = []
        self.deflected_counts: list[str] = []

    def opened(self, channel: str, service_code: str) -> None:
        self.opened_counts.append((channel, service_code))

    def deflected(self, article_id: str) -> None:
        self.deflected_counts.append(article_id)


@pytest.fixture
def setup() -> tuple[FakeStore[FakeRepository], CountingMeter, Any]:
    jur = load_jurisdiction("demo")
    meter = CountingMeter()
    table = h.handlers(region=phone_region(jur, None), department_of=department_of(jur), meter=meter)
    return FakeStore(FakeRepository(), "insights"), meter, table


CASE = uuid4()


def opened(**over: Any) -> CaseOpened:
    return CaseOpened(**({
        "case_id": CASE, "service_request_id": "DEMO-26-000001", "jurisdiction_id": "demo", "channel": "web",
        "channel_message_id": "m-1", "contact_key": "ck_abc", "service_code": "pothole",
        "description": "Pothole, call me at 613-555-0142 or mail ann@example.org",
        "address": "12 Main St (ring 613 555 0199)", "lat": 45.41, "long": -75.70, "requested_datetime": T0,
        "pii": {"email": "ann@example.org", "phone": "+16135550142", "first_name": "Ann"},
    } | over))


async def test_a_new_case_is_projected_scrubbed_without_personal_data_and_counted_once(setup) -> None:
    store, meter, table = setup
    env = event(opened(), subject=CASE)
    assert await store.handle(table, env) == "projected"
    assert await store.handle(table, env) == "duplicate"
    row = store.repo.cases[CASE]
    assert row["description"] == "Pothole, call me at [phone] or mail [email]"
    assert row["address"] == "12 Main St (ring [phone])"
    assert "ck_abc" not in repr(row) and "Ann" not in repr(row) and "5550142" not in repr(row)
    assert (row["channel"], row["status"], row["requested_at"], row["closed_at"]) == ("web", "open", T0, None)
    assert meter.opened_counts == [("web", "pothole")]


async def test_a_case_opened_without_a_category_is_counted_as_unclassified(setup) -> None:
    store, meter, table = setup
    await store.handle(table, event(opened(service_code=None, channel="sms"), subject=CASE))
    assert meter.opened_counts == [("sms", "unclassified")]


async def test_a_failed_projection_counts_nothing(setup) -> None:
    store, meter, table = setup
    store.repo.fail = True
    with pytest.raises(RuntimeError):
        await store.handle(table, event(opened(), subject=CASE))
    assert meter.opened_counts == [] and store.inbox == set() and store.rollbacks == 1


async def test_a_routed_case_gets_the_department_of_its_queue_and_its_due_time(setup) -> None:
    store, _, table = setup
    due = T0 + timedelta(days=2)
    routing = RoutingFields(service_code="pothole", service_name="Pothole", category_source="service_code",
                            agency_responsible="Public Works", queue="water-ops", priority=3, district="D7",
                            sla_due_at=due, rule_id="r", config_version="v")
    routed = CaseRouted(case_id=CASE, service_request_id="DEMO-26-000001", jurisdiction_id="demo", routing=routing,
                        description="call 613-555-0142", lat=45.4, long=-75.7, requested_datetime=T0)
    assert await store.handle(table, event(routed, subject=CASE, now=T0 + timedelta(seconds=2))) == "routed"
    row = store.repo.cases[CASE]
    assert (row["department"], row["district"], row["sla_due_at"], row["description"]) == (
        "water", "D7", due, "call [phone]")
    assert row["at"] == T0 + timedelta(seconds=2)


async def test_status_notes_are_scrubbed_and_an_unknown_case_is_left_alone(setup) -> None:
    store, _, table = setup
    await store.handle(table, event(opened(), subject=CASE))
    closed = CaseStatusChanged(case_id=CASE, service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                               status="closed", status_notes="Fixed; questions: roads@city.example",
                               workflow_status="resolved")
    assert await store.handle(table, event(closed, subject=CASE)) == "closed"
    assert store.repo.cases[CASE]["status_notes"] == "Fixed; questions: [email]"
    other = closed.model_copy(update={"case_id": uuid4()})
    assert await store.handle(table, event(other, subject=other.case_id)) == "unknown_case"


async def test_erasure_blanks_the_text_and_surveys_keep_only_the_rating(setup) -> None:
    store, _, table = setup
    await store.handle(table, event(opened(), subject=CASE))
    erased = CasePersonalDataErased(case_id=CASE, service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                                    closed_at=T0, policy_days=365)
    assert await store.handle(table, event(erased, subject=CASE)) == "erased"
    assert store.repo.cases[CASE]["description"] == "" and store.repo.cases[CASE]["address"] is None
    answer = CaseSurveyAnswered(case_id=CASE, service_request_id="DEMO-26-000001", jurisdiction_id="demo",
                                contact_key="ck_abc", rating=4, comment="Great, call me 613-555-0142",
                                answered_at=T0)
    assert await store.handle(table, event(answer, subject=CASE)) == "surveyed"
    assert [(s["rating"], s["answered_at"]) for s in store.repo.surveys] == [(4, T0)]
    assert "comment" not in store.repo.surveys[0] and "contact_key" not in store.repo.surveys[0]


async def test_a_deflection_is_kept_and_counted_once(setup) -> None:
    store, meter, table = setup
    d = HelpDeflected(channel_message_id="dfl-1", contact_key="web:9b2e41", received_at=T0,
                      article_id="bulky-items", service_code="bulky-item", language="fr")
    env = event(d, subject="web:9b2e41")
    assert await store.handle(table, env) == "deflected"
    assert await store.handle(table, env) == "duplicate"
    assert [x["article_id"] for x in store.repo.deflections] == ["bulky-items"]
    assert meter.deflected_counts == ["bulky-items"]
