"""Routing hostile requests through the real NYC, Boston and demo configurations: always a decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.router.domain import RoutingInput, route
from shared.jurisdiction import Jurisdiction, load_jurisdiction

NOW = datetime(2024, 3, 10, 6, 30, tzinfo=UTC)  # the night clocks go forward in New York and Toronto
CITIES = ("nyc", "boston", "demo")


@pytest.fixture(scope="module")
def cities() -> dict[str, Jurisdiction]:
    return {name: load_jurisdiction(name) for name in CITIES}


def _check(decision, city: Jurisdiction) -> None:  # noqa: ANN001
    assert decision.jurisdiction_id == city.id
    assert city.service(decision.service_code) is not None and city.queue(decision.queue) is not None
    assert 0 <= decision.score <= 1
    assert decision.sla_due_at >= decision.sla_started_at
    assert decision.sla_started_at.utcoffset() == timedelta(0) and decision.decided_at == NOW


@pytest.mark.parametrize("name", CITIES)
@pytest.mark.parametrize(
    "requested",
    [datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 1), datetime(1, 1, 2, tzinfo=timezone(timedelta(hours=14)))],
)
def test_a_zero_requested_datetime_starts_the_sla_now_instead_of_crashing(cities, name: str, requested) -> None:  # noqa: ANN001
    # 0001-01-01T00:00:00Z is what Go and .NET clients send for "no time": the router used to die on it.
    city = cities[name]
    decision = route(RoutingInput(description="pothole", requested_datetime=requested), city, NOW)
    _check(decision, city)
    assert decision.sla_started_at == NOW
    assert any("requested_datetime" in note for note in decision.notes)


@pytest.mark.parametrize("name", CITIES)
def test_an_old_but_representable_requested_datetime_is_kept(cities, name: str) -> None:  # noqa: ANN001
    city = cities[name]
    old = datetime(1900, 1, 2, 10, tzinfo=UTC)
    decision = route(RoutingInput(description="pothole", requested_datetime=old), city, NOW)
    assert decision.sla_started_at == old


TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["", "   ", "🕳️🚗💥" * 50, "\u202epothole\u202c", "حفرة في الطريق", "nid-de-poule à l'angle",
                     "NID DE POULE", "p\u0301o\u0301t\u0301hole", "pot\u200bhole", "\x00pothole\x00",
                     "pothole " * 2000, "street light out " * 300]),
)


def _edge_points(city: Jurisdiction) -> list[tuple[float, float]]:
    assert city.districts is not None
    points = []
    for area in city.districts.areas:
        coords = shapely.get_coordinates(city.districts.geometry(area.id).boundary)  # type: ignore[union-attr]
        points += [(float(y), float(x)) for x, y in coords[:: max(1, len(coords) // 8)]]
    return points


EDGES = {name: _edge_points(load_jurisdiction(name)) for name in CITIES}
POINTS = st.one_of(
    st.none(),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)),
    st.sampled_from([(90.0, 0.0), (-90.0, 180.0), (0.0, -180.0), (0.0, 0.0), (42.3594, -71.0587), (42.35945, -71.05875)]),
)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=st.sampled_from(CITIES),
    text=TEXT,
    title=st.none() | TEXT,
    code=st.none() | st.sampled_from(["", "pothole", "no-such-code", "x" * 500]),
    point=POINTS,
    edge=st.integers(0, 10_000),
    language=st.none() | st.sampled_from(["en", "fr", "FR-ca", "zz", ""]),
    requested=st.none() | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    aware=st.booleans(),
)
def test_any_request_gets_a_consistent_decision(name, text, title, code, point, edge, language, requested, aware) -> None:  # noqa: ANN001,PLR0913
    city = load_jurisdiction(name)
    if point is None and edge % 3 == 0:
        point = EDGES[name][edge % len(EDGES[name])]  # exactly on a polygon vertex or shared edge
    lat, long = point if point is not None else (None, None)
    if requested is not None and aware:
        requested = requested.replace(tzinfo=UTC)
    request = RoutingInput(service_code=code, description=text, title=title, lat=lat, long=long,
                           language=language, requested_datetime=requested)
    decision = route(request, city, NOW)
    _check(decision, city)
    assert route(request, city, NOW) == decision  # deterministic
    if point is not None and decision.location_status == "district":
        assert decision.district_id is not None and city.contains(lat, long)
