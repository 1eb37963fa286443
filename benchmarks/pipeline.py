"""`make bench`'s pipeline benchmark: the raw Kafka→PostgreSQL floor, then a fresh stack of real service
processes driven by `tools.loadgen` (a burst end to end, latency under steady load, Open311 intake over
HTTP, resident memory), and the duplicate detector's candidate query at 3 million open cases. Prints a
table with the issue's goals and writes var/bench.json.

Knobs (environment): BENCH_EVENTS (burst size, 20000), BENCH_PIPELINE_TIMEOUT (s the burst may take, 150),
BENCH_STEADY_RATE (events/s, 100), BENCH_STEADY_S (60), BENCH_DRAIN_S (s the steady load's last flows
may take after it, 30), BENCH_HTTP_S (15), BENCH_HTTP_CONCURRENCY (32),
BENCH_FLOOR_EVENTS (50000), BENCH_DEDUP_CASES (3000000), BENCH_ONLY (comma list of floor, steady,
pipeline, http, memory, dedup; default all).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx

from benchmarks import dedup_query
from benchmarks.floor import measure_floor
from benchmarks.report import latency_summary, render_table, rows_json, table
from benchmarks.stack import PG_DSN, REPO, BenchStack
from shared.events.topics import INTAKE_MESSAGES
from shared.jurisdiction import load_jurisdiction, shared_data_root
from tools.loadgen import SAMPLE, Watcher, create_producer, load_nyc, produce, read_sample, service_codes
from tools.replay.cli import form_for

PARTS = ("floor", "steady", "pipeline", "http", "memory", "dedup")
MAIL_DOMAIN = "bench.omni311.test"


def env_int(name: str, default: int) -> int:
    """An integer knob from the environment. Raises `SystemExit` with the name when it is not one."""
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw.replace("_", "")) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be an integer, not {raw!r}") from None


def log(text: str) -> None:
    """Progress on stderr; the table goes to stdout."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


async def floor_part(stack: BenchStack, n: int) -> dict[str, Any]:
    """The floor with `n` real intake envelopes (the burst's, cycled), in the stack's own database."""
    events = load_nyc(min(n, 20_000), seed=99, run="floor")
    values = [(e.key(), e.value()) for e in itertools.islice(itertools.cycle(events), n)]
    f = await measure_floor(stack.settings.kafka_bootstrap, stack.dsn, f"{stack.topic_prefix}floor", values)
    return {"events": f.events, "produce_per_s": round(f.produce_per_s), "consume_write_per_s": round(f.consume_write_per_s)}


async def steady_part(stack: BenchStack, rate: int, seconds: int) -> dict[str, Any]:
    """`rate` events/s for `seconds`, each with its own email address; latencies from the send to
    `case.routed` and to the acknowledgement's `notification.recorded`, waiting up to BENCH_DRAIN_S after the
    last send for stragglers. Flows that did not get there by then count as slower than all the others: a
    percentile that falls among them is None (`latency_summary`), and the table says how many got there."""
    events = load_nyc(rate * seconds, seed=1, emails=MAIL_DOMAIN, run=f"steady-{stack.run_id}")
    async with Watcher(stack.settings.kafka_bootstrap, stack.topic_prefix) as watcher:
        watcher.track(e.correlation_id for e in events)
        producer = create_producer(stack.settings.kafka_bootstrap)
        await producer.start()
        try:
            produced = await produce(producer, stack.settings.topic(INTAKE_MESSAGES.name), events, rate=rate)
        finally:
            await producer.stop()
        drained = await watcher.wait_for(lambda p: p.routed_at is not None and p.ack_at is not None,
                                         timeout=env_int("BENCH_DRAIN_S", 30))
    outcomes: dict[str, int] = {}
    for p in watcher.progress.values():
        outcomes[p.ack_outcome or "none"] = outcomes.get(p.ack_outcome or "none", 0) + 1
    return {"events": len(events), "rate": rate, "seconds": seconds, "sent_per_s": round(produced.rate, 1),
            "to_routed": latency_summary(watcher.latencies(produced.sent_at, "routed_at"), of=len(events)),
            "to_acknowledged": latency_summary(watcher.latencies(produced.sent_at, "ack_at"), of=len(events)),
            "acknowledgements": outcomes, "drained": drained}


async def _dedup_count(conn: asyncpg.Connection, case_ids: list[str]) -> int:
    if not case_ids:
        return 0
    return int(await conn.fetchval("SELECT count(*) FROM dedup.cases WHERE case_id = ANY($1::uuid[])", case_ids))


async def pipeline_part(stack: BenchStack, n: int, timeout: int) -> dict[str, Any]:
    """`n` events produced as fast as possible; the time from the first send until every one is routed
    (`case.routed` seen) and dedup-decided (in the duplicate detector's projection, which it writes in the
    transaction of its decision: a unique case is announced by no event). Incomplete after `timeout` s: the
    rate is what was done by then."""
    events = load_nyc(n, seed=2, run=f"burst-{stack.run_id}")
    conn = await asyncpg.connect(stack.dsn)
    try:
        async with Watcher(stack.settings.kafka_bootstrap, stack.topic_prefix) as watcher:
            watcher.track(e.correlation_id for e in events)
            producer = create_producer(stack.settings.kafka_bootstrap)
            await producer.start()
            try:
                produced = await produce(producer, stack.settings.topic(INTAKE_MESSAGES.name), events)
            finally:
                await producer.stop()
            start = min(produced.sent_at.values())
            log(f"pipeline: {n:,} events produced in {produced.seconds:.1f} s")
            deadline = time.monotonic() + timeout
            routed = deduped = 0
            done_at: float | None = None
            last_note = time.monotonic()
            while time.monotonic() < deadline:
                routed = watcher.count(lambda p: p.routed_at is not None)
                case_ids = [p.case_id for p in watcher.progress.values() if p.case_id]
                deduped = await _dedup_count(conn, case_ids)
                if routed == n and deduped == n:
                    done_at = time.time()
                    break
                if time.monotonic() - last_note > 15:
                    log(f"pipeline: {routed:,} routed, {deduped:,} dedup-decided of {n:,}")
                    last_note = time.monotonic()
                await asyncio.sleep(0.5)
            end = done_at if done_at is not None else time.time()
            last_routed = max((p.routed_at for p in watcher.progress.values() if p.routed_at), default=end)
            elapsed = max(end, last_routed) - start if done_at is not None else end - start
            settled = min(routed, deduped)
            opened = watcher.count(lambda p: p.opened_at is not None)
            last_opened = max((p.opened_at for p in watcher.progress.values() if p.opened_at), default=end)
            return {"events": n, "complete": done_at is not None, "seconds": round(elapsed, 2),
                    "routed": routed, "dedup_decided": deduped, "produce_per_s": round(produced.rate),
                    "opened": opened,
                    "opened_per_s": round(opened / (last_opened - start), 1) if opened and last_opened > start else None,
                    "cases_per_s": round(settled / elapsed, 1) if elapsed > 0 else None,
                    "to_routed": latency_summary(watcher.latencies(produced.sent_at, "routed_at"), of=n)}
    finally:
        await conn.close()


async def http_part(stack: BenchStack, seconds: int, concurrency: int) -> dict[str, Any]:
    """`concurrency` clients POST /requests.json (Open311 GeoReport v2, structured NYC records) back to back
    for `seconds`; accepted requests per second and latency percentiles of every answer."""
    jur = load_jurisdiction("nyc")
    codes = service_codes(jur.services)
    forms = [f for r in read_sample(shared_data_root().joinpath(*SAMPLE))
             if (f := form_for(r, "structured", codes, "demo-key")) is not None]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = itertools.count()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=stack.url("intake_web"), timeout=30, limits=limits) as client:
        await client.post("/requests.json", data=forms[0])  # warm-up: producer connected, templates loaded
        start = time.monotonic()
        stop_at = start + seconds

        async def worker() -> None:
            while time.monotonic() < stop_at:
                form = forms[next(counter) % len(forms)]
                t = time.perf_counter()
                try:
                    status = (await client.post("/requests.json", data=form)).status_code
                except httpx.HTTPError:
                    status = 0
                latencies.append(time.perf_counter() - t)
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - start
    accepted = sum(c for s, c in statuses.items() if 200 <= s < 300)
    return {"seconds": round(elapsed, 1), "concurrency": concurrency, "accepted": accepted,
            "accepted_per_s": round(accepted / elapsed, 1), "statuses": {str(k): v for k, v in statuses.items()},
            "latency": latency_summary(latencies)}


async def run(parts: set[str]) -> dict[str, Any]:
    """Run the asked `parts` (a subset of `PARTS`) and return their results by name.

    The burst and the steady load each get a fresh stack, always taken down: a burst the pipeline has not
    finished would otherwise sit in front of every steady event (and steady stragglers in front of the
    burst). The floor runs in the burst stack's database before its services start; Open311 over HTTP runs
    after the steady load (intake only publishes, a backlog does not slow it); memory is read from the
    burst's stack after the burst."""
    results: dict[str, Any] = {}
    if parts & {"floor", "pipeline", "memory"}:
        stack = BenchStack()
        await stack.create_database()
        try:
            if "floor" in parts:
                log("floor: producer -> topic -> consumer -> COPY")
                results["floor"] = await floor_part(stack, env_int("BENCH_FLOOR_EVENTS", 50_000))
                log(f"floor: {results['floor']}")
            if parts & {"pipeline", "memory"}:
                log(f"stack: starting {', '.join(stack.services)} (run {stack.run_id})")
                await stack.up()
            if "pipeline" in parts:
                n, timeout = env_int("BENCH_EVENTS", 20_000), env_int("BENCH_PIPELINE_TIMEOUT", 150)
                log(f"pipeline: {n:,} events (at most {timeout} s)")
                results["pipeline"] = await pipeline_part(stack, n, timeout)
                log(f"pipeline: {results['pipeline']}")
            if "memory" in parts:
                results["memory"] = stack.rss()
        finally:
            await stack.down()
    if parts & {"steady", "http"}:
        stack = BenchStack()
        await stack.create_database()
        try:
            log(f"stack: starting {', '.join(stack.services)} (run {stack.run_id})")
            await stack.up()
            if "steady" in parts:
                rate, seconds = env_int("BENCH_STEADY_RATE", 100), env_int("BENCH_STEADY_S", 60)
                log(f"steady: {rate}/s for {seconds} s")
                results["steady"] = await steady_part(stack, rate, seconds)
                log(f"steady: {results['steady']}")
            if "http" in parts:
                results["http"] = await http_part(stack, env_int("BENCH_HTTP_S", 15),
                                                  env_int("BENCH_HTTP_CONCURRENCY", 32))
                log(f"http: {results['http']}")
        finally:
            await stack.down()
    if "dedup" in parts:
        log("dedup: candidate query at scale (the first run loads the projection, minutes)")
        results["dedup"] = await dedup_query.run(PG_DSN, cases=env_int("BENCH_DEDUP_CASES", 3_000_000))
        log(f"dedup: p50 {results['dedup']['p50_ms']} ms, p99 {results['dedup']['p99_ms']} ms")
    return results


def main() -> int:
    import argparse

    # No options (the knobs are environment variables), but `--help` must print them, not run the benchmark.
    argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    only = {p.strip() for p in os.environ.get("BENCH_ONLY", "").split(",") if p.strip()} or set(PARTS)
    if unknown := only - set(PARTS):
        raise SystemExit(f"BENCH_ONLY: unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")
    started = datetime.now(UTC)
    t0 = time.monotonic()
    load_before = os.getloadavg()
    results = asyncio.run(run(only))
    rows = table(results)
    print(render_table(rows))
    out = REPO / "var" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    plan = (results.get("dedup") or {}).pop("slowest_plan", None)
    report = {"started_at": started.isoformat(), "seconds": round(time.monotonic() - t0, 1),
              "machine": {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
              "rows": rows_json(rows), "results": results, "dedup_slowest_plan": plan}
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nJSON: {out.relative_to(REPO)} ({report['seconds']:.0f} s; load average before "
          f"{load_before[0]:.1f}, after {report['machine']['loadavg_after'][0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
