"""House rules (docs/architecture.md) that a machine can check: nothing at import time (6), and every
subscriber stating its group and acknowledgement policy and going through the retry/DLQ wrapper (7)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


# --- rule 6: nothing happens at import time -------------------------------------------------------------

IMPORT_PROBE = textwrap.dedent("""
    import importlib, json, pkgutil, socket, sys, threading

    opened = []

    def refuse(*args, **kwargs):
        opened.append(repr(args[1:])[:200])
        raise OSError("socket use at import time")

    for name in ("connect", "connect_ex", "bind", "sendto", "listen"):
        setattr(socket.socket, name, refuse)

    roots = sys.argv[1:]
    modules = []
    for root in roots:
        pkg = importlib.import_module(root)
        modules.append(root)
        if hasattr(pkg, "__path__"):
            modules += [m.name for m in pkgutil.walk_packages(pkg.__path__, root + ".")
                        if not m.name.endswith(".__main__")]
    threads_before = threading.active_count()
    failures = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            failures[name] = repr(exc)[:300]
    print(json.dumps({"modules": modules, "failures": failures, "sockets": opened,
                      "threads": threading.active_count() - threads_before}))
""")


def run_import_probe(roots: list[str], extra_path: Path | None = None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI311_")}
    # Settings() built at import time would fail on these instead of silently reading the environment
    env.update(OMNI311_PG_POOL_MAX="read-at-import-time", OMNI311_OUTBOX_POLL_INTERVAL_S="read-at-import-time")
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (extra_path, REPO) if p)
    proc = subprocess.run([sys.executable, "-c", IMPORT_PROBE, *roots], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_every_shared_and_service_module_has_no_side_effect() -> None:
    result = run_import_probe(["shared", "services"])
    modules = result["modules"]
    assert isinstance(modules, list)
    apps = {m for m in modules if m.startswith("services.") and m.endswith(".app")}
    assert {"services.case.app", "services.router.app", "services.dedup.app", "services.notifier.app",
            "services.intake_web.app"} <= apps
    assert "shared.kafka" in modules and "shared.db.outbox" in modules and "shared.service" in modules
    assert result["failures"] == {}, "modules failed to import (or did I/O / read settings at import time)"
    assert result["sockets"] == []
    assert result["threads"] == 0, "a module started a thread at import time"


def test_the_import_probe_catches_a_module_that_connects_at_import(tmp_path: Path) -> None:
    pkg = tmp_path / "noisy_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "quiet.py").write_text("X = 1\n")
    (pkg / "eager.py").write_text("import socket\nsocket.create_connection(('127.0.0.1', 9092), timeout=1)\n")
    (pkg / "configured.py").write_text("from shared.settings import Settings\nSETTINGS = Settings()\n")

    result = run_import_probe(["noisy_pkg"], extra_path=tmp_path)

    failures = result["failures"]
    assert isinstance(failures, dict)
    assert set(failures) == {"noisy_pkg.eager", "noisy_pkg.configured"}
    assert result["sockets"]


# --- rule 7: every subscriber states its group and acknowledgement policy --------------------------------


BATCH_KNOBS = {"max_records", "batch_timeout_ms"}
"""The keys a service may set again in a `SUBSCRIBER_DEFAULTS` of its own (its batch size, as the notifier's)."""


def defaults_problems(tree: ast.Module) -> list[str]:
    """A module that names its own `SUBSCRIBER_DEFAULTS` must build it as ``{**shared.kafka.SUBSCRIBER_DEFAULTS,
    ...}`` changing only `BATCH_KNOBS`: a local name passes the decorator check below, so it must not carry
    other delivery settings (an ack policy, an offset reset) past it."""
    problems = []
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "SUBSCRIBER_DEFAULTS"
                                                     for t in node.targets)):
            continue
        value = node.value
        spreads_shared = (isinstance(value, ast.Dict) and bool(value.keys) and value.keys[0] is None
                          and isinstance(value.values[0], ast.Attribute)
                          and value.values[0].attr == "SUBSCRIBER_DEFAULTS")
        keys = {k.value for k in value.keys[1:] if isinstance(k, ast.Constant)} if spreads_shared else set()
        if not spreads_shared or len(keys) != len(value.keys) - 1 or keys - BATCH_KNOBS:  # type: ignore[union-attr]
            problems.append(f"line {node.lineno}: SUBSCRIBER_DEFAULTS of its own changes more than "
                            f"{sorted(BATCH_KNOBS)} of shared.kafka's")
    return problems


def subscriber_problems(source: str) -> list[str]:
    """Every `*.subscriber(...)` decorator must pass `group_id=` and `**SUBSCRIBER_DEFAULTS`, and the
    function it decorates must hand the batch to `<...>.consumer.handle_batch(...)` (retry, DLQ, commit);
    a module's own `SUBSCRIBER_DEFAULTS` may change only the batch size (`defaults_problems`)."""
    tree = ast.parse(source)
    problems = defaults_problems(tree)
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.AsyncFunctionDef | ast.FunctionDef):
            continue
        for deco in fn.decorator_list:
            if not (isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr == "subscriber"):
                continue
            kwargs = {k.arg for k in deco.keywords}
            spread = [k.value for k in deco.keywords if k.arg is None]
            if "group_id" not in kwargs:
                problems.append(f"{fn.name}: no group_id")
            if not any(isinstance(v, ast.Name) and v.id == "SUBSCRIBER_DEFAULTS" for v in spread):
                problems.append(f"{fn.name}: does not use **SUBSCRIBER_DEFAULTS")
            if {"ack_policy", "auto_offset_reset", "auto_commit"} & kwargs:
                problems.append(f"{fn.name}: overrides the delivery defaults")
            calls_handle = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                               and n.func.attr == "handle_batch" for n in ast.walk(fn))
            if not calls_handle:
                problems.append(f"{fn.name}: does not go through Consumer.handle_batch")
    return problems


APPS = sorted([*REPO.glob("services/*/app.py"), *REPO.glob("services/*/entrypoints/*.py")])


@pytest.mark.parametrize("path", APPS, ids=lambda p: str(p.relative_to(REPO / "services")))
def test_every_subscriber_states_its_group_and_uses_the_subscriber_defaults(path: Path) -> None:
    assert subscriber_problems(path.read_text("utf-8")) == []


def test_consuming_services_have_subscribers_to_check() -> None:
    with_subscribers = {p.relative_to(REPO / "services").parts[0] for p in APPS
                        if ".subscriber(" in p.read_text("utf-8")}
    assert {"case", "router", "dedup", "notifier"} <= with_subscribers


def test_the_subscriber_check_flags_missing_group_defaults_and_wrapper() -> None:
    source = textwrap.dedent("""
        @broker.subscriber("a", group_id="g", **SUBSCRIBER_DEFAULTS)
        async def good(msg):
            await rt.consumer.handle_batch(msg, call)

        @broker.subscriber("b", **SUBSCRIBER_DEFAULTS)
        async def no_group(msg):
            await rt.consumer.handle_batch(msg, call)

        @broker.subscriber("c", group_id="g", auto_offset_reset="earliest")
        async def no_defaults(msg):
            await rt.consumer.handle_batch(msg, call)

        @broker.subscriber("d", group_id="g", **SUBSCRIBER_DEFAULTS)
        async def bare(event):
            await handlers.apply(event)
    """)
    assert subscriber_problems(source) == [
        "no_group: no group_id",
        "no_defaults: does not use **SUBSCRIBER_DEFAULTS",
        "no_defaults: overrides the delivery defaults",
        "bare: does not go through Consumer.handle_batch",
    ]


def test_a_subscriber_defaults_of_its_own_may_change_only_the_batch_size() -> None:
    good = 'SUBSCRIBER_DEFAULTS = {**kafka.SUBSCRIBER_DEFAULTS, "max_records": 100}\n'
    assert subscriber_problems(good) == []
    for bad in ('SUBSCRIBER_DEFAULTS = {**kafka.SUBSCRIBER_DEFAULTS, "ack_policy": AckPolicy.ACK}\n',
                'SUBSCRIBER_DEFAULTS = {"auto_offset_reset": "latest", "batch": True}\n',
                'SUBSCRIBER_DEFAULTS = {**kafka.SUBSCRIBER_DEFAULTS, **{"ack_policy": AckPolicy.ACK}}\n',
                'SUBSCRIBER_DEFAULTS = dict(kafka.SUBSCRIBER_DEFAULTS, auto_offset_reset="latest")\n'):
        assert subscriber_problems(bad) == [
            "line 1: SUBSCRIBER_DEFAULTS of its own changes more than ['batch_timeout_ms', 'max_records'] of "
            "shared.kafka's"], bad


def test_the_subscriber_defaults_commit_after_the_handler_and_start_from_the_earliest_offset() -> None:
    from faststream import AckPolicy

    from shared.kafka import SUBSCRIBER_DEFAULTS

    assert SUBSCRIBER_DEFAULTS["auto_offset_reset"] == "earliest"
    # ACK and REJECT_ON_ERROR commit a failed message on Kafka; ACK_FIRST commits before the handler runs
    assert SUBSCRIBER_DEFAULTS["ack_policy"] is AckPolicy.NACK_ON_ERROR
