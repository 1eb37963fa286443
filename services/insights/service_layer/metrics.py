"""The Prometheus figures of insights (docs/residents-and-insights.md, "Insights", `/metrics`): counters of
cases opened and deflections, counted as events commit and seeded from the projection at start (so a
restart does not reset them), and gauges refreshed from the projection by a background loop every few
seconds: backlog by department and age band, SLA compliance per department, median time to close, mean
survey rating (the last `window_days` days)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.insights.domain.figures import AGE_BANDS, DEFAULT_DAYS, UNCLASSIFIED, UNKNOWN
from shared.logs import get_logger

log = get_logger("insights.metrics")

METRIC_NAMES = ("omni311_insights_cases_opened_total", "omni311_insights_backlog",
                "omni311_insights_sla_compliance_ratio", "omni311_insights_time_to_close_seconds",
                "omni311_insights_survey_rating", "omni311_insights_deflections_total")
"""Every series insights exposes (what `deploy/grafana/omni311.json` may query)."""


class GaugeReads(Protocol):
    """What the metrics read (`adapters.reads.InsightsReads`, or a fake in tests); either may raise
    `asyncpg.PostgresError`/`OSError` when the database fails."""

    async def gauges(self, *, now: datetime, since: datetime) -> dict[str, Any]:
        """`backlog` [(department, band, count)] at `now` (aware UTC); of the cases closed since `since`: `sla`
        [(department, closed with a due time, without a breach)] and `median_close_s` (seconds or None);
        `survey_mean` (1-5 or None) of the answers since `since`."""
        ...

    async def counter_seeds(self) -> dict[str, list[tuple[Any, ...]]]:
        """`opened` [(channel, service_code, count)] and `deflected` [(article_id, count)] of the whole
        projection (None for an unknown channel or code)."""
        ...


class InsightsMetrics:
    """The series on `registry` (the runtime's, served at `/metrics`)."""

    def __init__(self, registry: CollectorRegistry, *, window_days: int = DEFAULT_DAYS) -> None:
        self.window_days = window_days
        self.cases_opened = Counter("omni311_insights_cases_opened", "Cases opened, by channel and the service "
                                    "code known at opening", ["channel", "service_code"], registry=registry)
        self.deflections = Counter("omni311_insights_deflections", "Help articles that answered a resident's "
                                   "question", ["article_id"], registry=registry)
        self.backlog = Gauge("omni311_insights_backlog", "Open cases by department and age band",
                             ["department", "age_band"], registry=registry)
        self.sla_ratio = Gauge("omni311_insights_sla_compliance_ratio", "Share of cases closed (in the window) "
                               "without an SLA breach (the case service's clock), per department",
                               ["department"], registry=registry)
        self.time_to_close = Gauge("omni311_insights_time_to_close_seconds", "Median seconds from request to "
                                   "close of the cases closed in the window", registry=registry)
        self.survey_rating = Gauge("omni311_insights_survey_rating", "Mean satisfaction rating (1-5) of the "
                                   "answers in the window", registry=registry)
        self._backlog_labels: set[tuple[str, str]] = set()
        self._sla_labels: set[str] = set()

    def opened(self, channel: str, service_code: str) -> None:
        """Count one case opened on `channel` with `service_code` (the caller gives ``unknown`` and
        ``unclassified`` for missing ones); called once the event's transaction committed."""
        self.cases_opened.labels(channel, service_code).inc()

    def deflected(self, article_id: str) -> None:
        """Count one "this answered my question" for `article_id`; called once the event committed."""
        self.deflections.labels(article_id).inc()

    async def seed(self, reads: GaugeReads) -> None:
        """Start the counters at the projection's totals (call once, before consuming)."""
        seeds = await reads.counter_seeds()
        for channel, code, n in seeds["opened"]:
            self.cases_opened.labels(channel or UNKNOWN, code or UNCLASSIFIED).inc(n)
        for article, n in seeds["deflected"]:
            self.deflections.labels(article).inc(n)

    async def refresh(self, reads: GaugeReads, now: datetime) -> None:
        """Set the gauges from the projection at `now`; a label that disappeared goes to 0 (backlog) or is
        removed (SLA ratio), and a median or mean with nothing behind it is NaN."""
        figures = await reads.gauges(now=now, since=now - timedelta(days=self.window_days))
        backlog: dict[tuple[str, str], int] = {}
        for dept, band, n in figures["backlog"]:
            key = (dept or UNKNOWN, band)
            backlog[key] = backlog.get(key, 0) + n
        depts = {d for d, _ in backlog} | {d for d, _ in self._backlog_labels}
        for dept in depts:
            for band in AGE_BANDS:
                self.backlog.labels(dept, band).set(backlog.get((dept, band), 0))
        self._backlog_labels |= set(backlog)
        ratios = {(d or UNKNOWN): (within / with_due) for d, with_due, within in figures["sla"] if with_due}
        for gone in self._sla_labels - set(ratios):
            with contextlib.suppress(KeyError):
                self.sla_ratio.remove(gone)
        for dept, ratio in ratios.items():
            self.sla_ratio.labels(dept).set(ratio)
        self._sla_labels = set(ratios)
        self.time_to_close.set(float("nan") if figures["median_close_s"] is None else figures["median_close_s"])
        self.survey_rating.set(float("nan") if figures["survey_mean"] is None else figures["survey_mean"])


class RefreshLoop:
    """Refreshes `metrics` every `interval_s` seconds until stopped; a failed round is logged and retried at
    the next tick (the gauges keep their last values)."""

    def __init__(self, metrics: InsightsMetrics, reads: Callable[[], GaugeReads], clock: Callable[[], datetime],
                 interval_s: float) -> None:
        self.metrics, self.reads, self.clock, self.interval_s = metrics, reads, clock, interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start refreshing in a background task of the running event loop (call once, from the app's
        start); the first refresh is at once, then every `interval_s` seconds."""
        self._task = asyncio.create_task(self._run(), name="insights-metrics")

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end (a refresh under way is abandoned); safe to call when
        never started or already stopped."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.metrics.refresh(self.reads(), self.clock())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the loop
                log.warning("metrics_refresh_failed", error=str(exc))
            await asyncio.sleep(self.interval_s)
