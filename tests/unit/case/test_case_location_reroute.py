"""A case that gains its location is routed again on the router's first input plus that location (the
hand-off from the case service's `case.message_added` to the router's pure decision)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from services.router.domain import decide, decide_input, located_input, routing_input
from shared.events import CaseMessageAdded, CaseOpened
from shared.jurisdiction import load_jurisdiction

NOW = datetime(2024, 1, 10, 15, 0, tzinfo=UTC)
CENTRE = (45.415, -75.70)


def _opened(**kw: object) -> CaseOpened:
    return CaseOpened(case_id=uuid4(), service_request_id="DEMO-24-000001", jurisdiction_id="demo",
                      channel="sms", channel_message_id="SM1", contact_key="k",
                      description="The street light is out, very dark at night",
                      requested_datetime=NOW, **kw)  # type: ignore[arg-type]


def _added(opened: CaseOpened, **kw: object) -> CaseMessageAdded:
    return CaseMessageAdded(case_id=opened.case_id, service_request_id=opened.service_request_id,
                            jurisdiction_id="demo", message_id=uuid4(), channel="sms",
                            channel_message_id="SM2", description="45.415, -75.70", **kw)  # type: ignore[arg-type]


def test_a_case_routed_without_a_district_gets_one_when_its_location_arrives() -> None:
    jur = load_jurisdiction("demo")
    opened = _opened()
    first = decide(opened, jur, NOW)
    assert first.district is None
    logged = routing_input(opened).model_dump(mode="json")
    request = located_input(logged, first.service_code, NOW, _added(opened, lat=CENTRE[0], long=CENTRE[1]))
    assert request is not None and (request.lat, request.long) == CENTRE
    again = decide_input(request, jur, NOW)
    assert again.district == "centre"
    assert again.service_code == first.service_code and again.sla_due_at == first.sla_due_at


def test_no_reroute_without_a_point_or_when_the_case_was_routed_with_one() -> None:
    opened = _opened()
    logged = routing_input(opened).model_dump(mode="json")
    assert located_input(logged, "streetlight", NOW, _added(opened)) is None
    assert located_input(logged, "streetlight", NOW, _added(opened, address="by the school")) is None
    located = routing_input(_opened(lat=CENTRE[0], long=CENTRE[1])).model_dump(mode="json")
    assert located_input(located, "streetlight", NOW, _added(opened, lat=45.43, long=-75.70)) is None


def test_a_decision_logged_before_inputs_were_kept_is_rerouted_on_its_category() -> None:
    opened = _opened()
    request = located_input(None, "streetlight", NOW, _added(opened, lat=CENTRE[0], long=CENTRE[1]))
    assert request is not None and request.service_code == "streetlight" and request.requested_datetime == NOW
    assert decide_input(request, load_jurisdiction("demo"), NOW).district == "centre"
