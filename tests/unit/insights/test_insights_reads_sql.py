"""The insights reads define each shared figure's SQL once: the summary and the Prometheus gauges must not
drift apart (they once counted SLA compliance differently after one copy was fixed and the other not)."""

from __future__ import annotations

import inspect

from services.insights.adapters import reads


def test_backlog_median_and_sla_compliance_are_written_once_for_the_summary_and_the_gauges() -> None:
    source = inspect.getsource(reads)
    assert source.count("percentile_cont") == 1
    assert source.count("WHERE status = 'open'") == 1
    assert source.count("AS with_due") == 1
