"""Which stack a replay talks to: the jurisdiction and topic prefix, found as `make run` finds them, and the
one-line error when the stack's topics are not there.

`make run` (deploy/local/bin/run.sh, jurisdiction-env.sh) exports ``OMNI311_JURISDICTION`` (else the
replayed file's name says: ``nyc*`` → nyc, ``*boston*`` → boston, anything else → demo) and
``OMNI311_TOPIC_PREFIX`` (else ``<jurisdiction id>.``). A replay run by hand beside that stack has neither
variable, so it reads what the running stack was started with: the environment of the service processes
whose pids `make run` keeps in ``var/run/<service>.pid``. The rule (`stack_target`) is pure; reading the
pids and ``/proc/<pid>/environ`` is `running_stack_env`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

STACK_SERVICES = ("intake_web", "case", "router", "notifier", "dedup", "insights", "intake_email", "workbench",
                  "intake_sms_voice", "intake_social")
"""The services whose environment tells the running stack's jurisdiction and prefix, the replay's own
HTTP peer (intake_web) first."""

WATCHED_TOPICS = ("cases.lifecycle", "notifications.outcomes", "dedup.decisions")
"""The topics a replay reads (without the prefix)."""

_VARIABLES = ("OMNI311_JURISDICTION", "OMNI311_TOPIC_PREFIX")
SHOWN_PREFIXES = 6
"""How many of the broker's prefixes the error names (shortest first: cities before test stacks)."""


@dataclass(frozen=True)
class StackTarget:
    """The jurisdiction (an id or a path, as ``OMNI311_JURISDICTION`` takes it) and the topic prefix a
    replay uses, and where each came from (`jurisdiction_from`, `prefix_from`: words for the error a
    missing topic gives)."""

    jurisdiction: str
    topic_prefix: str
    jurisdiction_from: str
    prefix_from: str


def jurisdiction_for_file(replay_file: Path | str) -> str:
    """The jurisdiction `make run` replays a file into when ``OMNI311_JURISDICTION`` is unset
    (deploy/local/bin/jurisdiction-env.sh): ``nyc*`` → ``nyc``, ``*boston*`` → ``boston``, else ``demo``
    (the file's name, case as written, as the shell's `case` matches it)."""
    name = Path(replay_file).name
    if name.startswith("nyc"):
        return "nyc"
    if "boston" in name:
        return "boston"
    return "demo"


def city_named_by(replay_file: Path | str) -> str | None:
    """The jurisdiction the file's name says (`jurisdiction_for_file`: ``nyc*`` → nyc, ``*boston*`` →
    boston), or None when it names no city (make run would replay it into demo)."""
    name = Path(replay_file).name
    return jurisdiction_for_file(name) if name.startswith("nyc") or "boston" in name else None


def other_city_error(target: StackTarget, replay_file: Path | str, *, running_from: str,
                     id_of: Callable[[str], str] = lambda j: j) -> str | None:
    """The one line a replay stops with when it would send a city's file to the running stack of another
    city: the jurisdiction came from that stack (`running_from`, not ``OMNI311_JURISDICTION`` nor
    ``--jurisdiction``) and the file's name says another city (`city_named_by`). Every record would be
    refused there (its services are not that city's), so nothing is sent. None when there is no such clash."""
    named = city_named_by(replay_file)
    if target.jurisdiction_from != running_from or named is None or named == id_of(target.jurisdiction):
        return None
    return (f"omni311-replay: {Path(replay_file).name} is a {named} file (its name) but {running_from} serves "
            f"{target.jurisdiction}: its records would be refused there; run `make run REPLAY={replay_file}` for a "
            f"{named} stack, or set OMNI311_JURISDICTION (and OMNI311_TOPIC_PREFIX) to replay into that city anyway")


def is_path(jurisdiction: str) -> bool:
    """Whether ``OMNI311_JURISDICTION`` names a file or folder rather than an id (jurisdiction-env.sh's test,
    without its look at the disk: a ``/`` or a YAML suffix)."""
    return "/" in jurisdiction or jurisdiction.endswith((".yaml", ".yml"))


def stack_target(*, replay_file: Path | str, env: Mapping[str, str], running: Mapping[str, str] | None = None,
                 running_from: str = "the running stack", jurisdiction_arg: str | None = None,
                 id_of: Callable[[str], str] = lambda j: j) -> StackTarget:
    """The jurisdiction and topic prefix of the stack a replay of `replay_file` talks to. Pure.

    Jurisdiction: ``--jurisdiction`` (`jurisdiction_arg`), else ``OMNI311_JURISDICTION`` of this process
    (`env`), else the running stack's (`running`: the ``OMNI311_*`` variables a service of it was started
    with, read from `running_from`), else the file's name (`jurisdiction_for_file`).
    Prefix: ``OMNI311_TOPIC_PREFIX`` of this process when set, even empty (the shell's ``${VAR-default}``),
    else the running stack's when it serves the same jurisdiction, else ``<id>.`` (`id_of` turns a path
    into the YAML's `id:`; an id is its own)."""
    running = running or {}
    own = env.get("OMNI311_JURISDICTION") or None
    theirs = running.get("OMNI311_JURISDICTION") or None
    if jurisdiction_arg:
        jurisdiction, j_from = jurisdiction_arg, "--jurisdiction"
    elif own:
        jurisdiction, j_from = own, "OMNI311_JURISDICTION"
    elif theirs:
        jurisdiction, j_from = theirs, running_from
    else:
        jurisdiction, j_from = jurisdiction_for_file(replay_file), f"the file name {Path(replay_file).name}"
    jid = id_of(jurisdiction)
    if "OMNI311_TOPIC_PREFIX" in env:
        prefix, p_from = env["OMNI311_TOPIC_PREFIX"], "OMNI311_TOPIC_PREFIX"
    elif "OMNI311_TOPIC_PREFIX" in running and theirs is not None and id_of(theirs) == jid:
        prefix, p_from = running["OMNI311_TOPIC_PREFIX"], running_from
    else:
        prefix, p_from = f"{jid}.", f"the jurisdiction id {jid}"
    return StackTarget(jurisdiction, prefix, j_from, p_from)


def parse_environ(raw: bytes) -> dict[str, str]:
    """The ``OMNI311_JURISDICTION`` and ``OMNI311_TOPIC_PREFIX`` of a process environment as
    ``/proc/<pid>/environ`` holds it (``NAME=value`` entries separated by NUL bytes; undecodable bytes
    replaced). Other variables are left out (they may hold secrets)."""
    out: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        name, sep, value = entry.decode("utf-8", "replace").partition("=")
        if sep and name in _VARIABLES:
            out[name] = value
    return out


_PID = re.compile(r"\s*(\d+)\s*")


def running_stack_env(run_dir: Path, *, services: Iterable[str] = STACK_SERVICES,
                      read: Callable[[Path], bytes] = Path.read_bytes) -> tuple[dict[str, str], str] | None:
    """The ``OMNI311_JURISDICTION``/``OMNI311_TOPIC_PREFIX`` the first running service of `make run` was
    started with (its pid in ``<run_dir>/<service>.pid``, its environment in ``/proc/<pid>/environ``), and
    where they were read (e.g. ``the running stack (var/run/intake_web.pid)``); None when no service of it
    runs here (no pid file, a stale pid, another user's process, or no ``/proc``: not Linux)."""
    for service in services:
        pid_file = run_dir / f"{service}.pid"
        try:
            match = _PID.fullmatch(pid_file.read_text(encoding="utf-8"))
            if match is None:
                continue
            environ = parse_environ(read(Path("/proc") / match.group(1) / "environ"))
        except (OSError, UnicodeDecodeError):
            continue
        if environ:
            return environ, f"the running stack (var/run/{service}.pid)"
    return None


def missing_topics(target: StackTarget, existing: Iterable[str], topics: Iterable[str] = WATCHED_TOPICS) -> list[str]:
    """The topics (with the prefix) a replay reads that are not among `existing` (the broker's list)."""
    have = set(existing)
    return [t for t in (target.topic_prefix + name for name in topics) if t not in have]


def missing_topics_error(target: StackTarget, missing: list[str], bootstrap: str, existing: Iterable[str] = ()) -> str:
    """The one line a replay stops with when topics it reads are missing: which, on which broker, where the
    prefix came from, the prefixes the broker does have (at most `SHOWN_PREFIXES`, shortest first), and
    what to set."""
    prefixes = sorted({t[: -len(WATCHED_TOPICS[0])] for t in existing if t.endswith(WATCHED_TOPICS[0])},
                      key=lambda p: (len(p), p))
    shown = ", ".join(repr(p) for p in prefixes[:SHOWN_PREFIXES]) + (
        f" and {len(prefixes) - SHOWN_PREFIXES} more" if len(prefixes) > SHOWN_PREFIXES else "")
    found = (f" the broker has cases.lifecycle under prefix {shown};" if prefixes
             else " the broker has no cases.lifecycle topic (is a stack running? make run);")
    return (f"omni311-replay: topic {', '.join(missing)} not found on {bootstrap} (jurisdiction "
            f"{target.jurisdiction} from {target.jurisdiction_from}, topic prefix {target.topic_prefix!r} from "
            f"{target.prefix_from});{found} set OMNI311_TOPIC_PREFIX (and OMNI311_JURISDICTION) to the stack's, "
            f"or OMNI311_KAFKA_BOOTSTRAP to its broker")
