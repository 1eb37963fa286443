"""Read `make run`'s ``SCALE`` (``case=2,router=2,dedup=2,notifier=2``) into the extra replicas to start:
one line per replica beyond the first, ``NAME SERVICE PORT`` (``case-2 case 8181``), for services.sh.

    scale.py 'case=2,router=2'            prints the extra replicas; exit status 2 and one line on stderr
                                          when the value is refused (nothing is started then)
    scale.py --banner 'case=2,router=2'   prints `make run`'s banner line of each extra replica instead
                                          (its URL, its real consumer group id and its log)

The first replica of a service keeps its name and its port of `shared.settings.SERVICE_PORTS`; replica i
(2, 3, ...) is ``<service>-<i>`` on that port + 100 × (i − 1): case 8081, case-2 8181, case-3 8281. Every
replica joins the service's one consumer group (its id is the topic prefix and the service's name,
`shared.settings.Settings.group`: ``nyc.case`` under `make run`'s NYC replay), so Kafka shares the
partitions among them: more replicas than the partitions of a topic it consumes would leave some idle, and
is refused. Only the services whose scale-out the fault tests prove (tests/e2e/test_e2e_faults.py) can be
scaled: case, router, dedup and notifier. Standard library and the repository's registry and settings only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCALABLE = ("case", "router", "dedup", "notifier")
PORT_STEP = 100
"""Replica i of a service listens on its base port + PORT_STEP × (i − 1)."""


class ScaleError(ValueError):
    """A SCALE value that cannot be run; the message is the one line shown to the user."""


def max_replicas(service: str, registry: dict) -> int:
    """The fewest partitions among the topics `service` consumes (`registry`: shared/events/registry.json
    parsed): replicas beyond it would get no partition."""
    topics = {e["topic"] for e in registry["events"] if service in e["consumers"]}
    return min(registry["topics"][t]["partitions"] for t in topics)


def parse(value: str, registry: dict) -> dict[str, int]:
    """``case=2,router=3`` → ``{"case": 2, "router": 3}`` (an empty or blank value: no replicas asked). Raises
    `ScaleError` for an unknown or unscalable service, a count that is not a whole number ≥ 1, a count above
    `max_replicas`, a service named twice, an item without ``=``, or an empty item (``case=2,,router=2``,
    ``,``, a comma before or after the items: a value typed wrong, not one to guess at)."""
    out: dict[str, int] = {}
    if not value.strip():
        return out
    for item in (part.strip() for part in value.split(",")):
        if not item:
            raise ScaleError(f"SCALE: {value!r} has an empty item (a comma too many; e.g. SCALE=case=2,router=2)")
        name, sep, count = item.partition("=")
        name, count = name.strip(), count.strip()
        if not sep:
            raise ScaleError(f"SCALE: {item!r} is not service=replicas (e.g. SCALE=case=2,router=2)")
        if name not in SCALABLE:
            raise ScaleError(f"SCALE: {name!r} cannot be scaled (scalable: {', '.join(SCALABLE)})")
        if name in out:
            raise ScaleError(f"SCALE: {name} is given twice")
        if not count.isascii() or not count.isdigit() or int(count) < 1:
            raise ScaleError(f"SCALE: {name}={count!r}: the number of replicas is a whole number, at least 1")
        limit = max_replicas(name, registry)
        if int(count) > limit:
            raise ScaleError(f"SCALE: {name}={count}: at most {limit} replicas (the partitions of the topics it "
                             "consumes; more would stay idle)")
        out[name] = int(count)
    return out


def replicas(scale: dict[str, int], ports: dict[str, int]) -> list[tuple[str, str, int]]:
    """The replicas beyond each service's first: ``(name, service, port)``, in `SCALABLE` order."""
    return [(f"{service}-{i}", service, ports[service] + PORT_STEP * (i - 1))
            for service in SCALABLE for i in range(2, scale.get(service, 1) + 1)]


def banner(extra: list[tuple[str, str, int]], group: Callable[[str], str]) -> list[str]:
    """`make run`'s banner line of each replica in `extra` (`replicas`' tuples): its metrics URL, its consumer
    group id as the services form it (`group`: `shared.settings.Settings.group`, e.g. ``nyc.case``) and its
    log under var/run/."""
    return [f"  replica          {name:<11} http://127.0.0.1:{port}/metrics  (consumer group {group(service)}, "
            f"log var/run/{name}.log)" for name, service, port in extra]


def main(argv: list[str]) -> int:
    """Print `replicas` of ``argv[0]`` one per line (``NAME SERVICE PORT``), or with ``--banner`` first their
    `banner` lines (consumer group ids from the OMNI311_* settings of the environment); 2 with one line on
    stderr when the value is refused."""
    sys.path.insert(0, str(ROOT))
    from shared.settings import SERVICE_PORTS

    as_banner = bool(argv) and argv[0] == "--banner"
    if as_banner:
        argv = argv[1:]
    registry = json.loads((ROOT / "shared/events/registry.json").read_text(encoding="utf-8"))
    try:
        scale = parse(argv[0] if argv else "", registry)
    except ScaleError as exc:
        print(exc, file=sys.stderr)
        return 2
    extra = replicas(scale, SERVICE_PORTS)
    if as_banner:
        from shared.settings import Settings

        for line in banner(extra, Settings().group):
            print(line)
        return 0
    for name, service, port in extra:
        print(name, service, port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
