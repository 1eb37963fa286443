"""Every public function, method and protocol of insights the review named documents itself (house style:
shapes, units, errors): a missing docstring fails here rather than in the next review."""

from __future__ import annotations

import pytest

from services.insights.adapters.reads import ExportPool
from services.insights.domain import projection
from services.insights.domain.figures import Window
from services.insights.service_layer import metrics, queries

DOCUMENTED = [
    projection.status_change, projection.merge_change, projection.unmerge_change, projection.recategorisation,
    projection.erasure, projection.survey_answer, projection.deflection, Window.days,
    metrics.GaugeReads, metrics.GaugeReads.gauges, metrics.GaugeReads.counter_seeds,
    metrics.RefreshLoop.start, metrics.RefreshLoop.stop, metrics.InsightsMetrics.opened,
    metrics.InsightsMetrics.deflected, queries.Reads.aggregates, queries.Reads.hotspots, queries.Reads.stream,
    ExportPool.close,
]


@pytest.mark.parametrize("thing", DOCUMENTED, ids=lambda t: t.__qualname__)
def test_it_has_a_docstring(thing: object) -> None:
    doc = (thing.__doc__ or "").strip()
    assert len(doc) > 20, f"{thing.__qualname__} has no docstring"
