"""`python -m tools.loadgen`: produce N NYC intake events onto a running stack's `intake.messages` and, with
`--watch`, wait until each is routed and print latencies.

The stack is the one of `OMNI311_KAFKA_BOOTSTRAP` and `OMNI311_TOPIC_PREFIX` (`shared.settings.Settings`).
Exit status 0, or 1 when `--watch` timed out before every event was routed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys

from shared.events.topics import INTAKE_MESSAGES
from shared.settings import Settings
from tools.loadgen import Watcher, create_producer, load_nyc, produce


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.loadgen", description=__doc__.splitlines()[0])
    parser.add_argument("--events", "-n", type=int, default=20_000, help="how many events (default 20000)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same events (ids, reporters)")
    parser.add_argument("--rate", type=float, default=None, help="events/s (default: as fast as possible)")
    parser.add_argument("--emails", metavar="DOMAIN", default=None,
                        help="give each event the unique address lg-<seed>-<i>@DOMAIN (acknowledgements)")
    parser.add_argument("--jitter-m", type=float, default=300.0, help="move copies' points up to this (metres)")
    parser.add_argument("--compression", default=None, help="producer compression (e.g. gzip)")
    parser.add_argument("--watch", action="store_true", help="wait until every event is routed; print latencies")
    parser.add_argument("--timeout", type=float, default=600.0, help="--watch: at most this many seconds")
    return parser.parse_args(argv)


def _p(values: list[float], q: int) -> str:
    if len(values) < 2:
        return "-"
    return f"{statistics.quantiles(values, n=100, method='inclusive')[q - 1] * 1000:,.0f} ms"


async def run(args: argparse.Namespace, settings: Settings) -> int:
    events = load_nyc(args.events, seed=args.seed, emails=args.emails, jitter_m=args.jitter_m)
    watcher = Watcher(settings.kafka_bootstrap, settings.topic_prefix) if args.watch else None
    if watcher is not None:
        await watcher.__aenter__()
        watcher.track(e.correlation_id for e in events)
    try:
        producer = create_producer(settings.kafka_bootstrap, compression=args.compression)
        await producer.start()
        try:
            produced = await produce(producer, settings.topic(INTAKE_MESSAGES.name), events, rate=args.rate)
        finally:
            await producer.stop()
        print(f"produced {produced.count:,} events in {produced.seconds:.2f} s ({produced.rate:,.0f}/s)")
        if watcher is None:
            return 0
        done = await watcher.wait_for(lambda p: p.routed_at is not None, timeout=args.timeout)
        routed = watcher.latencies(produced.sent_at, "routed_at")
        acked = watcher.latencies(produced.sent_at, "ack_at")
        print(f"routed {len(routed):,}/{len(events):,}: p50 {_p(routed, 50)}, p99 {_p(routed, 99)}; "
              f"acknowledged {len(acked):,}: p50 {_p(acked, 50)}, p99 {_p(acked, 99)}")
        return 0 if done else 1
    finally:
        if watcher is not None:
            await watcher.__aexit__(None, None, None)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(_args(argv), Settings()))


if __name__ == "__main__":
    sys.exit(main())
