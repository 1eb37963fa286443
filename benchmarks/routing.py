"""Routing throughput and memory on the real NYC sample: structured and free-text decisions per second.

`python -m benchmarks.routing [--rounds N]` prints decisions/s per mode and the peak memory of
loading the NYC jurisdiction (districts, derived services) in MiB.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from datetime import UTC, datetime

from services.router.domain import RoutingInput, route
from shared.jurisdiction import load_jurisdiction, shared_data_root
from tools.replay.sources import read_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tracemalloc.start()
    t0 = time.perf_counter()
    jur = load_jurisdiction("nyc", use_cache=False)
    load_s = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    records = list(read_records(shared_data_root() / "311_records" / "nyc311_2011_sample_1000.csv"))
    codes = {s.service_name.casefold(): s.service_code for s in jur.services}
    now = datetime.now(UTC)
    inputs = {
        "structured": [RoutingInput(service_code=codes.get((r.service_name or "").casefold()),
                                    description=r.description or "", lat=r.lat, long=r.long,
                                    requested_datetime=r.requested_datetime) for r in records],
        "free-text": [RoutingInput(description=r.free_text or "", lat=r.lat, long=r.long,
                                   requested_datetime=r.requested_datetime) for r in records],
    }
    print(f"nyc jurisdiction load: {load_s:.2f} s, peak {peak / 2**20:.1f} MiB")
    for mode, batch in inputs.items():
        best = float("inf")
        for _ in range(args.rounds):
            t = time.perf_counter()
            for item in batch:
                route(item, jur, now)
            best = min(best, time.perf_counter() - t)
        print(f"route {mode:10s}: {len(batch) / best:,.0f} decisions/s (best of {args.rounds}, {len(batch)} records)")


if __name__ == "__main__":
    main()
