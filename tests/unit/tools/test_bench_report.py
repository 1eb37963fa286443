"""The benchmark's pure parts: percentiles, latency summaries, goals and the table."""

from __future__ import annotations

import pytest

from benchmarks.report import Row, latency_summary, percentile, render_table, rows_json, table


def test_percentiles_interpolate_between_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0, 5.0]
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 5.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 25) == 2.0
    assert percentile([1.0, 2.0], 99) == pytest.approx(1.99)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


@pytest.mark.parametrize("q", [-1, 100.5])
def test_a_percentile_outside_0_to_100_is_refused(q: float) -> None:
    with pytest.raises(ValueError):
        percentile([1.0], q)


def test_latency_summaries_are_in_milliseconds() -> None:
    s = latency_summary([0.010, 0.020, 0.030, 0.040, 0.150])
    assert s == {"n": 5, "of": 5, "p50_ms": 30.0, "p95_ms": 128.0, "p99_ms": 145.6, "max_ms": 150.0}
    assert latency_summary([])["p99_ms"] is None


def test_flows_that_never_arrived_count_as_the_slowest() -> None:
    s = latency_summary([0.01] * 90 + [0.02] * 5, of=100)
    assert (s["n"], s["of"], s["p50_ms"], s["p95_ms"]) == (95, 100, 10.0, None)
    assert s["p99_ms"] is None and s["max_ms"] is None
    assert latency_summary([0.01] * 99 + [0.5], of=100)["p99_ms"] == pytest.approx(14.9)


def test_goals_are_met_or_missed_in_their_direction() -> None:
    assert Row("cases/s", 1200, "cases/s", ("min", 1000)).met is True
    assert Row("cases/s", 50, "cases/s", ("min", 1000)).met is False
    assert Row("p99", 9.5, "ms", ("max", 10)).met is True
    assert Row("p99", 11, "ms", ("max", 10)).met is False
    assert Row("p99", None, "ms", ("max", 10)).met is None
    assert Row("rss", 80, "MiB").met is None


def test_the_table_aligns_values_and_shows_goals() -> None:
    rows = [Row("pipeline", 52.3456, "cases/s", ("min", 1000), "20,000 events"),
            Row("floor consume+write", 69123.0, "events/s"), Row("dedup p99", None, "ms", ("max", 10), "skipped")]
    lines = render_table(rows).splitlines()
    assert lines[0].split() == ["measure", "value", "unit", "goal", "note"]
    assert set(lines[1]) <= {"-", " "}
    assert "52.3" in lines[2] and ">= 1,000 (MISSED)" in lines[2] and lines[2].endswith("20,000 events")
    assert "69,123" in lines[3]
    assert " - " in lines[4] and "<= 10.0 (?)" in lines[4]
    unit_at = lines[0].index("unit")  # every column starts where its heading does
    assert [line[unit_at:].split()[0] for line in lines[2:]] == ["cases/s", "events/s", "ms"]


def test_rows_become_json_with_their_verdict() -> None:
    [d] = rows_json([Row("p99", 120.0, "ms", ("max", 150))])
    assert d == {"name": "p99", "value": 120.0, "unit": "ms", "goal": {"kind": "max", "target": 150}, "note": "",
                 "met": True}


def test_the_pipeline_table_sets_each_goal_on_its_row() -> None:
    lat = {"n": 6000, "of": 6000, "p50_ms": 40.0, "p95_ms": 90.0, "p99_ms": 140.0, "max_ms": 300.0}
    late = {"n": 900, "of": 6000, "p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    results = {
        "floor": {"events": 50_000, "produce_per_s": 50_000, "consume_write_per_s": 60_000},
        "pipeline": {"events": 20_000, "complete": False, "seconds": 180.0, "routed": 9_000, "dedup_decided": 8_000,
                     "cases_per_s": 44.4, "opened": 15_000, "opened_per_s": 100.0},
        "steady": {"events": 6000, "rate": 100, "seconds": 60, "to_routed": lat, "to_acknowledged": late},
        "dedup": {"cases": 3_000_000, "n": 400, "mean_candidates": 1.5, "p50_ms": 1.0, "p99_ms": 12.0},
        "memory": {"case": 150.0},
    }
    rows = {r.name: r for r in table(results)}
    pipe = rows["pipeline: intake -> routed + dedup-decided"]
    assert pipe.goal == ("min", 1000) and pipe.met is False and pipe.note.startswith("INCOMPLETE after 180 s")
    assert "8,000/20,000" in pipe.note
    assert rows["pipeline: intake -> case.opened"].value == 100.0
    assert rows["pipeline / floor (consume + write)"].value == pytest.approx(44.4 / 60_000)
    assert rows["steady intake -> case.routed p99"].met is True
    assert rows["steady intake -> acknowledgement p99"].goal is None
    assert rows["steady intake -> acknowledgement p99"].value is None
    assert rows["steady intake -> acknowledgement p50"].note.endswith("900/6,000 reached; beyond the wait: too few got there")
    assert rows["dedup candidate query p99"].met is False
    assert rows["RSS case"].value == 150.0
    assert "Open311 POST /requests.json" not in rows  # a part not run gives no row
