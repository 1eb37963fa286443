"""`make infra-up KAFKA_BROKERS=3` (deploy/local/bin/kafka.sh): the three nodes' configuration, the services'
settings it hands to services.sh (`kafka.sh env`), and how start, stop and status treat the two layouts.
Each script runs from a copy of deploy/local in a temporary checkout (its own var/); a "broker" here is a
sleeping process named like one: no JVM starts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.private_infra import render_server_properties
from support.stack import REPO


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A temporary checkout with deploy/local/bin and deploy/local/kafka (ROOT is two folders above bin/)."""
    for sub in ("bin", "kafka"):
        shutil.copytree(REPO / "deploy/local" / sub, tmp_path / "deploy/local" / sub)
    return tmp_path


def _run(checkout: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI311_", "KAFKA_"))}
    return subprocess.run([str(checkout / "deploy/local/bin/kafka.sh"), *args], env=base | (env or {}),
                          capture_output=True, text=True, timeout=60, check=False)


def test_three_brokers_take_every_other_port_and_replicate_everything_three_times(checkout: Path) -> None:
    nodes = [_props(_run(checkout, "config", str(n), env={"KAFKA_BROKERS": "3"}).stdout) for n in (1, 2, 3)]
    assert [n["node.id"] for n in nodes] == ["1", "2", "3"]
    assert [n["listeners"] for n in nodes] == [f"PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{p + 1}"
                                               for p in (9092, 9094, 9096)]
    assert {n["controller.quorum.voters"] for n in nodes} == {"1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"}
    assert len({n["log.dirs"] for n in nodes}) == 3
    for n in nodes:
        assert n["log.dirs"].startswith(str(checkout / "var/kafka-cluster/node"))
        for key in ("default.replication.factor", "offsets.topic.replication.factor",
                    "transaction.state.log.replication.factor", "share.coordinator.state.topic.replication.factor"):
            assert n[key] == "3", key
        for key in ("min.insync.replicas", "transaction.state.log.min.isr", "share.coordinator.state.topic.min.isr"):
            assert n[key] == "2", key
    assert _run(checkout, "bootstrap", env={"KAFKA_BROKERS": "3"}).stdout.strip() == \
        "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"


def test_one_broker_stays_as_it_was(checkout: Path) -> None:
    one = _props(_run(checkout, "config", "1").stdout)
    assert (one["node.id"], one["controller.quorum.voters"], one["log.dirs"]) == (
        "1", "1@127.0.0.1:9093", str(checkout / "var/kafka/data"))
    assert {one[k] for k in ("default.replication.factor", "min.insync.replicas", "offsets.topic.replication.factor",
                             "transaction.state.log.min.isr")} == {"1"}
    assert _run(checkout, "bootstrap").stdout.strip() == "127.0.0.1:9092"
    assert _run(checkout, "env").stdout == ""


def test_the_tests_private_clusters_render_the_template_as_the_script_does(checkout: Path) -> None:
    script = _props(_run(checkout, "config", "2", env={"KAFKA_BROKERS": "3"}).stdout)
    ours = _props(render_server_properties(node_id=2, port=9094, controller_port=9095,
                                           voters="1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097",
                                           data_dir=checkout / "var/kafka-cluster/node2/data", replication=3))
    assert ours == script


def test_another_count_of_brokers_is_refused_in_one_line(checkout: Path) -> None:
    done = _run(checkout, "start", env={"KAFKA_BROKERS": "2"})
    assert done.returncode == 1
    assert "KAFKA_BROKERS=2: one broker (1) or a cluster of three (3)" in done.stderr.strip().splitlines()[-1]


@pytest.fixture
def fake_cluster(checkout: Path) -> Iterator[list[subprocess.Popen]]:
    """Three processes named like brokers (`kafka.Kafka` on their command line), with their pid files."""
    procs = []
    for n in (1, 2, 3):
        node = checkout / f"var/kafka-cluster/node{n}"
        node.mkdir(parents=True)
        proc = subprocess.Popen(["bash", "-c", "exec -a kafka.Kafka sleep 60"], start_new_session=True)
        (node / "kafka.pid").write_text(f"{proc.pid}\n")
        # Reaped as soon as it ends, as init reaps a real broker: a zombie still answers `kill -0`.
        threading.Thread(target=proc.wait, daemon=True).start()
        procs.append(proc)
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_a_running_cluster_is_handed_to_the_services_unless_they_are_told_otherwise(
        checkout: Path, fake_cluster: list[subprocess.Popen]) -> None:
    assert _run(checkout, "env").stdout.splitlines() == [
        "export OMNI311_KAFKA_BOOTSTRAP=127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096",
        "export OMNI311_KAFKA_REPLICATION_FACTOR=3"]
    told = _run(checkout, "env", env={"OMNI311_KAFKA_BOOTSTRAP": "broker:9092"})
    assert told.stdout.splitlines() == ["export OMNI311_KAFKA_REPLICATION_FACTOR=3"]
    assert _run(checkout, "bootstrap").stdout.strip().count(",") == 2


def test_a_cluster_missing_a_broker_is_down_and_one_broker_is_not_started_beside_it(
        checkout: Path, fake_cluster: list[subprocess.Popen]) -> None:
    fake_cluster[1].kill()
    fake_cluster[1].wait()
    status = _run(checkout, "status", env={"PYTHON": "/nonexistent/python"})
    assert status.returncode == 1
    assert status.stdout.strip() == ("kafka: 2 of 3 brokers running on 127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096; "
                                     "stopped: 2 (127.0.0.1:9094)")
    single = _run(checkout, "start", env={"KAFKA_BROKERS": "1"})
    assert single.returncode == 1
    assert "three-broker Kafka runs" in single.stderr and "make infra-down" in single.stderr


def test_stop_needs_no_count_and_stops_the_three_at_once(checkout: Path, fake_cluster: list[subprocess.Popen]) -> None:
    done = _run(checkout, "stop")
    assert done.returncode == 0, done.stderr
    assert "three-broker cluster stopped" in done.stderr
    assert all(p.wait(timeout=5) is not None for p in fake_cluster)
    assert not list(checkout.glob("var/kafka-cluster/node*/kafka.pid"))
    assert _run(checkout, "env").stdout == ""


def test_a_port_of_the_cluster_held_by_another_process_stops_the_start(checkout: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        done = _run(checkout, "start", env={"KAFKA_BROKERS": "3", "KAFKA_PORT": str(port)})
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert f"port 127.0.0.1:{port} (broker 1 of 3) is held by another process" in line and "KAFKA_PORT" in line
