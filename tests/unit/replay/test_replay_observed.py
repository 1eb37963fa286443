"""The replay's Kafka bookkeeping keeps each case's `routing.sla_due_at` for the report's `sla` section."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.events import Envelope
from shared.events.case import CaseRouted
from shared.events.declaration import declaration_of
from tools.replay.cli import Observed, Submission
from tools.replay.sources import ReplayRecord

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def _record() -> ReplayRecord:
    return ReplayRecord(
        source_format="boston_csv", position=1, source_id="101", service_name="Pothole", description=None,
        lat=None, long=None, address_string=None, zipcode=None, expected_agency="PWDx",
        requested_datetime=datetime(2025, 3, 10, 13, 0, tzinfo=UTC), status="closed", status_notes=None,
        free_text=None, city_due_at=datetime(2025, 3, 14, 15, 30, tzinfo=UTC),
        closed_at=datetime(2025, 3, 12, 9, 0, tzinfo=UTC), city_on_time=True,
    )


def _routed() -> Envelope:
    example = declaration_of(CaseRouted).example  # routing.sla_due_at = 2025-03-14T15:09:26Z
    return Envelope.new_flow(CaseRouted.model_validate(example), subject=example["case_id"], producer="case", now=NOW)


def test_the_routed_due_time_reaches_the_sla_sample_whichever_comes_first():
    routed = _routed()
    for routed_first in (False, True):
        observed = Observed()
        sub = Submission(_record(), "structured", "tok-1", submitted_at=0.0)
        observed.opened_by_token["tok-1"] = routed.data["case_id"]
        if routed_first:
            observed.apply(routed, now=1.0)
            observed.register(sub)
        else:
            observed.register(sub)
            observed.apply(routed, now=1.0)

        sample = sub.sla_sample()

        assert sample.our_due_at == datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
        assert (sample.city_due_at, sample.closed_at, sample.city_on_time) == (
            datetime(2025, 3, 14, 15, 30, tzinfo=UTC), datetime(2025, 3, 12, 9, 0, tzinfo=UTC), True)
        assert sample.opened_at == datetime(2025, 3, 10, 13, 0, tzinfo=UTC)


def test_a_routed_event_without_a_due_time_leaves_it_unknown():
    routed = _routed()
    routed.data["routing"].pop("sla_due_at")
    observed = Observed()
    sub = Submission(_record(), "structured", "tok-1", submitted_at=0.0)
    observed.opened_by_token["tok-1"] = routed.data["case_id"]
    observed.register(sub)
    observed.apply(routed, now=1.0)

    assert sub.routed_agency == "Public Works"
    assert sub.sla_sample().our_due_at is None
