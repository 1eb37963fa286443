"""The load generator's pure parts: events built from records (as intake_web's Open311 POST would publish
them), deterministic per seed, fresh per event; and the watcher's bookkeeping of what became of each."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from shared.contacts import contact_key
from shared.events import Envelope, MessageReceived
from shared.records import ReplayRecord
from tools.loadgen import Progress, build_events
from tools.loadgen.watch import apply

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)


def _record(position: int, *, name: str | None = "Street Light Condition", lat: float | None = 40.7128,
            long: float | None = -74.006, address: str | None = "100 Centre St") -> ReplayRecord:
    return ReplayRecord(source_format="nyc_csv", position=position, source_id=str(position), service_name=name,
                        description="Street Light Out", lat=lat, long=long, address_string=address, zipcode="10013",
                        expected_agency="DOT", requested_datetime=datetime(2011, 3, 1, tzinfo=UTC), status="closed",
                        status_notes=None, free_text="Street Light Out")


RECORDS = [_record(1), _record(2, name="Unknown type", lat=None, long=None, address=None)]
CODES = {"street light condition": "street-light-condition"}


def test_events_are_intake_messages_as_open311_posts_make_them() -> None:
    events = build_events(RECORDS, CODES, 2, seed=3, now=NOW)
    first = events[0].envelope
    msg = first.payload(MessageReceived)
    assert first.event_type == "intake.message_received" and first.producer == "intake_web"
    assert first.correlation_id == first.event_id and first.causation_id is None
    assert msg.channel == "open311" and msg.service_code == "street-light-condition"
    assert (msg.lat, msg.long, msg.address) == (40.7128, -74.006, "100 Centre St")
    assert msg.received_at == msg.requested_datetime == NOW
    assert first.subject == msg.contact_key and events[0].key() == msg.contact_key.encode()
    assert Envelope.from_bytes(events[0].value()) == first
    unknown = events[1].envelope.payload(MessageReceived)
    assert unknown.service_code is None and unknown.lat is None and unknown.address == "ZIP 10013"


def test_the_same_seed_builds_the_same_events_and_another_seed_fresh_ones() -> None:
    a = [e.value() for e in build_events(RECORDS, CODES, 5, seed=1, now=NOW)]
    b = [e.value() for e in build_events(RECORDS, CODES, 5, seed=1, now=NOW)]
    c = build_events(RECORDS, CODES, 5, seed=2, now=NOW)
    assert a == b
    assert not {Envelope.from_bytes(v).event_id for v in a} & {e.envelope.event_id for e in c}


def test_cycled_records_get_fresh_ids_reporters_and_moved_points() -> None:
    events = build_events(RECORDS, CODES, 7, seed=0, now=NOW, jitter_m=300)
    msgs = [e.envelope.payload(MessageReceived) for e in events]
    assert len({e.envelope.event_id for e in events}) == 7
    assert len({m.channel_message_id for m in msgs}) == 7 and len({m.contact_key for m in msgs}) == 7
    assert [e.position for e in events] == [1, 2, 1, 2, 1, 2, 1]
    copies = [m for m in msgs[2:] if m.lat is not None]
    assert copies and all((m.lat, m.long) != (40.7128, -74.006) for m in copies)
    assert all(abs(m.lat - 40.7128) * 111_320 <= 300.5 for m in copies)


def test_emails_are_unique_and_key_the_reporter() -> None:
    events = build_events(RECORDS, CODES, 4, seed=9, now=NOW, emails="loadgen.test")
    emails = [e.email for e in events]
    assert len(set(emails)) == 4 and all(m and m.endswith("@loadgen.test") for m in emails)
    for e in events:
        msg = e.envelope.payload(MessageReceived)
        assert msg.pii.email == e.email and msg.contact_key == contact_key("email", e.email)
    assert all(e.email is None for e in build_events(RECORDS, CODES, 2, seed=9, now=NOW))


@pytest.mark.parametrize("kwargs", [{"n": -1}, {"n": 1, "records": []}, {"n": 1, "now": datetime(2026, 1, 1)}])
def test_bad_arguments_are_refused(kwargs: dict) -> None:
    args = {"records": RECORDS, "n": 1, "now": NOW} | kwargs
    with pytest.raises(ValueError):
        build_events(args.pop("records"), CODES, args.pop("n"), now=args.pop("now"))


def _env(event_type: str, cid: object, **data: object) -> bytes:
    return json.dumps({"event_type": event_type, "correlation_id": str(cid), "data": data}).encode()


def test_the_watcher_times_each_step_of_a_tracked_flow_once() -> None:
    cid = uuid4()
    progress = {cid: Progress()}
    assert apply(progress, _env("case.opened", cid, case_id="c1"), 1.0)
    assert apply(progress, _env("routing.decided", cid), 2.0)
    assert apply(progress, _env("case.routed", cid), 3.0)
    assert apply(progress, _env("case.routed", cid), 9.0)  # a second routing keeps the first time
    assert apply(progress, _env("dedup.suggested", cid), 4.0)
    assert apply(progress, _env("notification.recorded", cid, kind="status_changed", outcome="sent"), 4.5)
    assert apply(progress, _env("notification.recorded", cid, kind="acknowledgement", outcome="sent"), 5.0)
    p = progress[cid]
    assert (p.case_id, p.opened_at, p.decided_at, p.routed_at) == ("c1", 1.0, 2.0, 3.0)
    assert (p.dedup_at, p.dedup_kind, p.ack_at, p.ack_outcome) == (4.0, "dedup.suggested", 5.0, "sent")


def test_the_watcher_ignores_other_flows_and_what_is_not_an_envelope() -> None:
    progress = {uuid4(): Progress()}
    assert not apply(progress, _env("case.opened", uuid4()), 1.0)
    assert not apply(progress, b"not json", 1.0)
    assert not apply(progress, b'{"event_type": "case.opened"}', 1.0)
    assert all(p == Progress() for p in progress.values())
