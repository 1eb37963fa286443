"""`make run SCALE=...` (deploy/local/bin/scale.py): the replicas it starts, their ports, and every bad value
refused with one line before anything starts (run.sh and services.sh check it first), and the banner's
replica lines with their real consumer group ids."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from shared.settings import SERVICE_PORTS, Settings
from support.stack import REPO
from tools.fakes import PORTS


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scale", REPO / "deploy/local/bin/scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scale = _load()
REGISTRY = json.loads((REPO / "shared/events/registry.json").read_text(encoding="utf-8"))


def test_two_of_each_start_one_more_replica_each_on_the_port_plus_100() -> None:
    asked = scale.parse("case=2,router=2,dedup=2,notifier=2", REGISTRY)
    assert asked == {"case": 2, "router": 2, "dedup": 2, "notifier": 2}
    assert scale.replicas(asked, SERVICE_PORTS) == [
        ("case-2", "case", 8181), ("router-2", "router", 8182), ("dedup-2", "dedup", 8183),
        ("notifier-2", "notifier", 8184)]


def test_three_replicas_and_spaces_and_an_empty_value() -> None:
    assert scale.replicas(scale.parse(" case = 3 ", REGISTRY), SERVICE_PORTS) == [
        ("case-2", "case", 8181), ("case-3", "case", 8281)]
    assert scale.parse("", REGISTRY) == {}
    assert scale.parse("  ", REGISTRY) == {}
    assert scale.parse("router=1", REGISTRY) == {"router": 1}


def test_no_replica_port_is_another_services_or_a_fakes() -> None:
    most = scale.parse(",".join(f"{s}=6" for s in scale.SCALABLE), REGISTRY)
    ports = [p for _n, _s, p in scale.replicas(most, SERVICE_PORTS)]
    assert len(set(ports)) == len(ports)
    assert not set(ports) & (set(SERVICE_PORTS.values()) | set(PORTS.values()))


@pytest.mark.parametrize(("value", "words"), [
    ("foo=2", "'foo' cannot be scaled"),
    ("intake_web=2", "'intake_web' cannot be scaled"),
    ("case=0", "whole number, at least 1"),
    ("case=-1", "whole number, at least 1"),
    ("case=two", "whole number, at least 1"),
    ("case=2.5", "whole number, at least 1"),
    ("case=\uff12", "whole number, at least 1"),
    ("case=7", "at most 6 replicas"),
    ("case", "is not service=replicas"),
    ("case=2,case=3", "given twice"),
    ("case=2,,router=2", "'case=2,,router=2' has an empty item"),
    (",", "',' has an empty item"),
    ("case=2,", "has an empty item"),
    (",case=2", "has an empty item"),
    ("case=2, ,router=2", "has an empty item"),
])
def test_a_bad_value_is_refused_with_one_line(value: str, words: str) -> None:
    with pytest.raises(scale.ScaleError, match=words):
        scale.parse(value, REGISTRY)


def test_the_partition_bound_is_the_fewest_partitions_the_service_consumes() -> None:
    assert scale.max_replicas("case", REGISTRY) == 6
    registry = {"topics": {"a": {"partitions": 6}, "b": {"partitions": 3}},
                "events": [{"topic": "a", "consumers": ["case"]}, {"topic": "b", "consumers": ["case"]}]}
    assert scale.max_replicas("case", registry) == 3


def test_services_sh_refuses_a_bad_scale_before_starting_anything(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI311_")} | {"SCALE": "case=7"}
    before = sorted(p.name for p in (REPO / "var/run").glob("*.pid")) if (REPO / "var/run").exists() else []
    done = subprocess.run([str(REPO / "deploy/local/bin/services.sh"), "start"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "SCALE: case=7: at most 6 replicas (the partitions of the topics it consumes; more would stay idle)"]
    assert done.stdout == ""
    assert sorted(p.name for p in (REPO / "var/run").glob("*.pid")) == before


def _bare_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("OMNI311_")} | extra


def test_the_banner_names_each_replicas_real_consumer_group_with_the_topic_prefix() -> None:
    done = subprocess.run([sys.executable, str(REPO / "deploy/local/bin/scale.py"), "--banner", "case=2,notifier=3"],
                          env=_bare_env(OMNI311_TOPIC_PREFIX="nyc."), capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stdout.splitlines() == [
        "  replica          case-2      http://127.0.0.1:8181/metrics  "
        "(consumer group nyc.case, log var/run/case-2.log)",
        "  replica          notifier-2  http://127.0.0.1:8184/metrics  "
        "(consumer group nyc.notifier, log var/run/notifier-2.log)",
        "  replica          notifier-3  http://127.0.0.1:8284/metrics  "
        "(consumer group nyc.notifier, log var/run/notifier-3.log)"]
    assert Settings(topic_prefix="nyc.").group("case") == "nyc.case", "the id the case service subscribes with"
    nothing = subprocess.run([sys.executable, str(REPO / "deploy/local/bin/scale.py"), "--banner", ""],
                             env=_bare_env(), capture_output=True, text=True, timeout=60, check=True)
    assert nothing.stdout == ""


def test_run_sh_prints_the_replicas_from_the_banner_of_scale_py() -> None:
    script = (REPO / "deploy/local/bin/run.sh").read_text(encoding="utf-8")
    assert '"$PY" "$BIN/scale.py" --banner "${SCALE:-}"' in script
    assert "consumer group %s" not in script, "a banner line of run.sh's own would name the bare service"


@pytest.mark.parametrize("value", ["case=2,,router=2", ","])
def test_run_sh_refuses_an_empty_item_before_starting_anything(tmp_path: Path, value: str) -> None:
    """From a copy of deploy/local/bin (its own var/) whose infra.sh and services.sh only fail loudly: nothing
    of the real checkout, nor the shared infrastructure, is started or stopped even when the check is gone."""
    bin_copy = tmp_path / "deploy/local/bin"
    shutil.copytree(REPO / "deploy/local/bin", bin_copy)
    for stub in ("infra.sh", "services.sh"):
        (bin_copy / stub).write_text(f"#!/bin/sh\necho '{stub} ran' >&2\nexit 97\n", encoding="utf-8")
    (tmp_path / "shared").symlink_to(REPO / "shared")
    done = subprocess.run([str(tmp_path / "deploy/local/bin/run.sh")], cwd=tmp_path, capture_output=True, text=True,
                          env=_bare_env(SCALE=value, PYTHON=sys.executable, REPLAY=str(tmp_path / "none.csv")),
                          timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"SCALE: {value!r} has an empty item (a comma too many; e.g. SCALE=case=2,router=2)"]
    assert done.stdout == ""
    assert not (tmp_path / "var").exists(), "nothing was started"
