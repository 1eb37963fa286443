"""`deploy/grafana/omni311.json` is a Grafana dashboard that parses, reads Prometheus through a data source
variable, and queries only series the insights service exposes (and every one of them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from services.insights.service_layer.metrics import METRIC_NAMES, InsightsMetrics

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "omni311.json"


def exposed() -> set[str]:
    registry = CollectorRegistry()
    InsightsMetrics(registry)
    return {f"{m.name}_total" if m.type == "counter" else m.name for m in registry.collect()}


def queried(dashboard: dict[str, Any]) -> set[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return {name for e in exprs for name in re.findall(r"\bomni311_[a-z_]+\b", e)}


def test_the_dashboard_parses_and_uses_a_prometheus_data_source_variable() -> None:
    dashboard = json.loads(DASHBOARD.read_text("utf-8"))
    assert dashboard["title"] and dashboard["uid"] and dashboard["panels"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_every_series_the_dashboard_queries_is_exposed_and_every_exposed_one_is_shown() -> None:
    dashboard = json.loads(DASHBOARD.read_text("utf-8"))
    assert exposed() == set(METRIC_NAMES)
    assert queried(dashboard) == set(METRIC_NAMES)
