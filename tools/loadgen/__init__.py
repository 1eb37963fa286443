"""Load for omni311: intake events built from the real NYC records, produced straight onto `intake.messages`,
and a watcher that times what became of each (routed, dedup-decided, acknowledged).

    records = read_sample(shared_data_root().joinpath(*SAMPLE))
    events = build_events(records, service_codes(load_jurisdiction("nyc").services), 20_000, seed=1,
                          now=datetime.now(UTC), emails="loadgen.test")
    async with Watcher(settings.kafka_bootstrap, settings.topic_prefix) as watcher:
        watcher.track(e.correlation_id for e in events)
        producer = create_producer(settings.kafka_bootstrap)
        await producer.start()
        try:
            produced = await produce(producer, settings.topic("intake.messages"), events, rate=None)
        finally:
            await producer.stop()
        await watcher.wait_for(lambda p: p.routed_at is not None, timeout=300)
    watcher.latencies(produced.sent_at, "routed_at")

`python -m tools.loadgen --help` does the same from a shell.
"""

from tools.loadgen.events import SAMPLE, LoadEvent, build_events, read_sample, service_codes
from tools.loadgen.produce import Produced, create_producer, produce
from tools.loadgen.watch import WATCHED, Progress, Watcher

__all__ = ["SAMPLE", "WATCHED", "LoadEvent", "Produced", "Progress", "Watcher", "build_events", "create_producer",
           "load_nyc", "produce", "read_sample", "service_codes"]


def load_nyc(n: int, *, seed: int = 0, emails: str | None = None, jitter_m: float = 300.0,
             run: str | None = None) -> list[LoadEvent]:
    """`n` events from the NYC sample (`SAMPLE` under `$OMNI311_SHARED_DATA`) with the ``nyc``
    jurisdiction's categories, stamped now (UTC); see `build_events`. Raises `OSError` when the sample is
    missing."""
    from datetime import UTC, datetime

    from shared.jurisdiction import load_jurisdiction, shared_data_root

    records = read_sample(shared_data_root().joinpath(*SAMPLE))
    codes = service_codes(load_jurisdiction("nyc").services)
    return build_events(records, codes, n, seed=seed, now=datetime.now(UTC), emails=emails, jitter_m=jitter_m,
                        run=run)
