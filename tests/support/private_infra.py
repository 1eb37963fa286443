"""Private Kafka and PostgreSQL for tests that stop, kill or restart them, never the shared ones.

The shared infrastructure (`make infra-up`: Kafka 127.0.0.1:9092, PostgreSQL 127.0.0.1:55432) serves every
test at once; a fault test that killed it would fail everybody else's. Here a test starts its own:

- `KafkaCluster(brokers=1 | 3)`: a KRaft cluster from the jars `deploy/local/bin/kafka.sh` uses
  (deploy/local/lib/kafka, `kafka.sh install` fetches them) and its template deploy/local/kafka/server.properties,
  each node a combined broker + controller on free ports of 127.0.0.1. Node `i` (0-based) has `node.id` i+1.
  With three nodes, internal topics (consumer offsets, transaction state) have replication factor 3 and
  min ISR 2, as `make infra-up KAFKA_BROKERS=3` sets them.
- `PrivatePostgres()`: a PostgreSQL cluster from the Debian binaries `deploy/local/bin/postgres.sh` uses, with
  that script's settings, trust auth, database ``omni311`` with PostGIS and role omni311, on a free port.
  `initdb` runs once per process (test session or xdist worker); each instance starts from a copy.

Both are synchronous (a start blocks for seconds); from a test's event loop, while other coroutines must
keep running (a producer in the middle of a burst), call the `a`-prefixed twins (`await cluster.arestart_broker(1)`),
which run the same call in a thread.

Every process started here is killed at teardown, at interpreter exit (atexit) and on the fixtures' way out,
even when the test failed. A pytest killed outright (SIGKILL, an OOM kill) runs none of those: each process
is also recorded in var/test-logs/private/pids/ with its owner, and the first private instance a later run
starts sweeps first (`sweep_stale`): what a dead owner left running is killed and its data removed. Data
lives under a temporary folder: Kafka's under var/test-logs/private/ (its logs are kept there for reading
after a failure, its data removed), PostgreSQL's under the system temporary folder (the `postgres` user must
reach it; removed at close).

Fixtures (module-scoped) for an e2e module: import them into the module,
``from support.private_infra import private_kafka3, private_postgres``.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.infra import free_port

REPO = Path(__file__).resolve().parents[2]
KAFKA_LIB = REPO / "deploy" / "local" / "lib" / "kafka"
KAFKA_CONF = REPO / "deploy" / "local" / "kafka"
PRIVATE_ROOT = REPO / "var" / "test-logs" / "private"
PID_DIR = PRIVATE_ROOT / "pids"
"""One JSON file per running private process (`_track`): its pid and start time, its owner's (the test
process that started it), and the folders to remove when a sweep finds its owner dead."""

KAFKA_HEAP = "-Xms64m -Xmx320m"
"""Per node: three nodes and the services share two cores and a few GB with the shared broker."""
KAFKA_JVM = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:+ExitOnOutOfMemoryError", "-Xss512k",
             "-Djava.awt.headless=true")
"""SerialGC: no GC threads to compete for the two cores; C1 only (TieredStopAtLevel=1): a broker serves
in about half the CPU time, ample for the few thousand messages a second of a test."""

FAST_FENCING = {"broker.heartbeat.interval.ms": "1000", "broker.session.timeout.ms": "4000"}
"""A broker that stops heartbeating is fenced (its partitions led elsewhere) after 4 s, not the default 9 s;
a killed broker started again registers as soon as its old session ends (it is refused until then)."""

_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_SWEPT = False


def _started(pid: int) -> int | None:
    """The start time of process `pid` (clock ticks after boot, /proc/<pid>/stat field 22): with the pid it
    names one process, never a later one given the same pid. None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _pid_file(proc: subprocess.Popen) -> Path:
    return PID_DIR / f"{proc.pid}.json"


def sweep_stale() -> list[int]:
    """Kill what a test process that died without its teardown (SIGKILL) left running: each record in
    `PID_DIR` whose owner is gone has its process group SIGKILLed (when that process still runs, checked by
    its start time) and its folders removed. Records of live owners (another xdist worker, a run beside this
    one) are left alone. Returns the pids killed. Runs once per process before its first private instance."""
    global _SWEPT
    _SWEPT = True
    killed: list[int] = []
    for record in sorted(PID_DIR.glob("*.json")) if PID_DIR.is_dir() else []:
        try:
            entry = json.loads(record.read_text())
        except (OSError, ValueError):
            continue  # being written by its owner this instant, or already swept by another process
        if _started(entry["owner"]) == entry["owner_start"]:
            continue
        if _started(entry["pid"]) == entry["start"]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(entry["pid"], signal.SIGKILL)
                killed.append(entry["pid"])
        for folder in entry.get("remove", []):
            shutil.rmtree(folder, ignore_errors=True)
        record.unlink(missing_ok=True)
    return killed


def _track(proc: subprocess.Popen, remove: list[Path]) -> subprocess.Popen:
    """Keep `proc` for `_kill_all`, and record it in `PID_DIR` (with `remove`, the folders a sweep deletes
    if this process dies without killing it)."""
    with _LIVE_LOCK:
        _LIVE.add(proc)
    PID_DIR.mkdir(parents=True, exist_ok=True)
    _pid_file(proc).write_text(json.dumps({
        "pid": proc.pid, "start": _started(proc.pid), "owner": os.getpid(), "owner_start": _started(os.getpid()),
        "remove": [str(folder) for folder in remove]}))
    return proc


def _sweep_once() -> None:
    if not _SWEPT:
        sweep_stale()


def _kill(proc: subprocess.Popen, sig: int = signal.SIGKILL, wait_s: float = 10.0) -> None:
    """Signal the process group of `proc` (every process here starts its own session) and reap it."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    with _LIVE_LOCK:
        _LIVE.discard(proc)
    _pid_file(proc).unlink(missing_ok=True)


@atexit.register
def _kill_all() -> None:
    """A test that crashed or a fixture that never reached its teardown leaves no broker or server behind."""
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        _kill(proc)


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------------------------------------- Kafka


def _kafka_uuid() -> str:
    """A Kafka `Uuid` as its text (URL-safe base64 of 16 random bytes, no padding), as
    `StorageTool random-uuid` prints: the cluster id and each log directory's `directory.id`."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def metadata_brokers(port: int, timeout_s: float = 3.0) -> list[int] | None:
    """The node ids a broker on 127.0.0.1:`port` lists in a Metadata v4 answer for no topics (the brokers
    it knows as alive), or None when it does not answer. Stdlib only, synchronous (Kafka protocol,
    Metadata API key 3)."""
    cid = b"omni311-private"
    req = struct.pack(">hhih", 3, 4, 7, len(cid)) + cid + struct.pack(">ib", 0, 0)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            s.sendall(struct.pack(">i", len(req)) + req)
            head = _recv(s, 4)
            (n,) = struct.unpack(">i", head)
            body = _recv(s, n)
    except OSError:
        return None
    corr, _throttle, count = struct.unpack(">iii", body[:12])
    if corr != 7:
        return None
    ids, pos = [], 12
    for _ in range(count):
        node_id, hlen = struct.unpack(">ih", body[pos:pos + 6])
        pos += 6 + hlen
        pos += 4  # port
        (rlen,) = struct.unpack(">h", body[pos:pos + 2])
        pos += 2 + max(rlen, 0)
        ids.append(node_id)
    return sorted(ids)


def _recv(s: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise OSError("connection closed")
        out += chunk
    return out


_BOOTSTRAP_CHECKPOINT: bytes | None = None
_FORMAT_LOCK = threading.Lock()


def _bootstrap_checkpoint(work: Path) -> bytes:
    """The `bootstrap.checkpoint` `StorageTool format` writes (the metadata version of these jars; the same
    for every node and cluster): formatted once per process, in a folder of its own under `work` (pytest-xdist
    workers format at the same time; a shared folder let one remove it while the other read it). A node's
    log directory is then its copy plus a `meta.properties` of its own, which saves a JVM start (about 2 s)
    per node."""
    global _BOOTSTRAP_CHECKPOINT
    with _FORMAT_LOCK:
        if _BOOTSTRAP_CHECKPOINT is None:
            assert any(KAFKA_LIB.glob("kafka_2.13-*.jar")), (
                f"no Kafka jars in {KAFKA_LIB}: run `deploy/local/bin/kafka.sh install` (make infra-up does)")
            work.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=f"format-{os.getpid()}-", dir=work))
            data = scratch / "data"
            data.mkdir()
            props = scratch / "format.properties"
            props.write_text(render_server_properties(
                node_id=1, port=1, controller_port=2, voters="1@127.0.0.1:2", data_dir=data, replication=1))
            run = subprocess.run(
                ["java", *KAFKA_JVM, f"-Dlog4j2.configurationFile={KAFKA_CONF / 'log4j2.properties'}",
                 "-cp", f"{KAFKA_LIB}/*", "kafka.tools.StorageTool", "format", "-t", _kafka_uuid(), "-c", str(props)],
                capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, f"kafka StorageTool format failed:\n{run.stdout}\n{run.stderr}"
            _BOOTSTRAP_CHECKPOINT = (data / "bootstrap.checkpoint").read_bytes()
            shutil.rmtree(scratch, ignore_errors=True)
        return _BOOTSTRAP_CHECKPOINT


def render_server_properties(*, node_id: int, port: int, controller_port: int, voters: str, data_dir: Path,
                             replication: int, overrides: dict[str, str] | None = None) -> str:
    """deploy/local/kafka/server.properties for one node: its placeholders filled, then the keys a cluster
    of `replication` nodes needs (node id, quorum voters, internal topics at that replication factor with
    min ISR `replication - 1`, at least 1) and `overrides` set. Raises AssertionError on a placeholder
    left unfilled."""
    text = (KAFKA_CONF / "server.properties").read_text()
    min_isr = max(1, replication - 1)
    values = {"KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(controller_port), "KAFKA_DATA_DIR": str(data_dir),
              "KAFKA_NODE_ID": str(node_id), "KAFKA_QUORUM_VOTERS": voters,
              "KAFKA_REPLICATION_FACTOR": str(replication), "KAFKA_MIN_INSYNC_REPLICAS": str(min_isr)}
    text = re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), text)
    left = re.findall(r"\$\{\w+\}", text)
    assert not left, f"server.properties placeholders not filled: {left}"
    keys = {
        "node.id": str(node_id), "controller.quorum.voters": voters,
        "default.replication.factor": str(replication), "min.insync.replicas": str(min_isr),
        "offsets.topic.replication.factor": str(replication),
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min_isr),
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": str(min_isr),
    } | dict(overrides or {})
    out, seen = [], set()
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in keys:
            out.append(f"{key}={keys[key]}")
            seen.add(key)
        else:
            out.append(line)
    out += [f"{k}={v}" for k, v in keys.items() if k not in seen]
    return "\n".join(out) + "\n"


@dataclass
class KafkaNode:
    """One combined broker + controller: `port` serves clients, `controller_port` the KRaft quorum."""

    index: int
    port: int
    controller_port: int
    dir: Path
    proc: subprocess.Popen | None = None

    @property
    def node_id(self) -> int:
        return self.index + 1

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "kafka.log"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class KafkaCluster:
    """A private KRaft cluster of `brokers` nodes (1 or 3). `start()` blocks until every node serves;
    `bootstrap` lists every node (``127.0.0.1:p1,127.0.0.1:p2,...``) for OMNI311_KAFKA_BOOTSTRAP.

    `overrides`: broker settings over the template's for every node; by default `FAST_FENCING` (pass ``{}``
    for the template's own timeouts).
    `heap`: KAFKA_HEAP_OPTS of each node.
    """

    brokers: int = 1
    overrides: dict[str, str] = field(default_factory=lambda: dict(FAST_FENCING))
    heap: str = KAFKA_HEAP
    start_timeout_s: float = 90.0
    name: str = "kafka"
    nodes: list[KafkaNode] = field(default_factory=list)
    root: Path | None = None

    def __post_init__(self) -> None:
        assert self.brokers >= 1, "a cluster has at least one broker"
        _sweep_once()
        PRIVATE_ROOT.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=f"{self.name}{self.brokers}-", dir=PRIVATE_ROOT))
        self.cluster_id = _kafka_uuid()
        self.nodes = [KafkaNode(i, free_port(), free_port(), self.root / f"node{i + 1}") for i in range(self.brokers)]

    @property
    def bootstrap(self) -> str:
        return ",".join(n.address for n in self.nodes)

    @property
    def voters(self) -> str:
        return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)

    def node_of(self, node_id: int) -> KafkaNode:
        """The node whose `node.id` is `node_id` (a partition leader as the brokers report it)."""
        return self.nodes[node_id - 1]

    # ---------------------------------------------------------------------------------- life cycle

    def _prepare(self, node: KafkaNode) -> Path:
        data = node.dir / "data"
        props = node.dir / "server.properties"
        if not (data / "meta.properties").exists():
            data.mkdir(parents=True, exist_ok=True)
            (data / "bootstrap.checkpoint").write_bytes(_bootstrap_checkpoint(PRIVATE_ROOT))
            # meta.properties v1, as StorageTool format writes it (cluster, node and this log dir's ids).
            (data / "meta.properties").write_text(
                f"node.id={node.node_id}\ndirectory.id={_kafka_uuid()}\nversion=1\ncluster.id={self.cluster_id}\n")
        props.write_text(render_server_properties(
            node_id=node.node_id, port=node.port, controller_port=node.controller_port, voters=self.voters,
            data_dir=data, replication=self.brokers, overrides=self.overrides))
        return props

    def _launch(self, node: KafkaNode) -> None:
        assert not node.running(), f"broker {node.index} already runs"
        props = self._prepare(node)
        (node.dir / "logs").mkdir(parents=True, exist_ok=True)
        log = open(node.log_path, "ab")  # noqa: SIM115 - owned by the process
        log.write(f"=== {time.strftime('%H:%M:%S')} start\n".encode())
        log.flush()
        node.proc = _track(subprocess.Popen(
            ["java", *self.heap.split(), *KAFKA_JVM,
             f"-Dlog4j2.configurationFile={KAFKA_CONF / 'log4j2.properties'}", f"-Dkafka.logs.dir={node.dir / 'logs'}",
             "-cp", f"{KAFKA_LIB}/*", "kafka.Kafka", str(props)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
            remove=[node.dir / "data"])
        log.close()

    def start(self) -> KafkaCluster:
        """Start every node not running and wait until each serves and lists every running node."""
        _bootstrap_checkpoint(PRIVATE_ROOT)
        for node in self.nodes:
            if not node.running():
                self._launch(node)
        self.wait_serving()
        return self

    def wait_serving(self, timeout_s: float | None = None) -> None:
        """Block until every running node answers a Metadata request listing every running node (all
        registered and unfenced). Raises AssertionError with the log tail when a node exits or the
        deadline (`start_timeout_s`) passes."""
        deadline = time.monotonic() + (timeout_s or self.start_timeout_s)
        while True:
            want = sorted(n.node_id for n in self.nodes if n.running())
            for n in self.nodes:
                if n.proc is not None and n.proc.poll() is not None and n.proc.returncode not in (-9, -15, 143, 137):
                    raise AssertionError(f"broker {n.index} exited with {n.proc.returncode}:\n{_log_tail(n.log_path)}")
            if all(metadata_brokers(n.port) == want for n in self.nodes if n.running()):
                return
            if time.monotonic() > deadline:
                seen = {n.index: metadata_brokers(n.port) for n in self.nodes if n.running()}
                tails = "\n".join(f"--- node {n.index}\n{_log_tail(n.log_path)}" for n in self.nodes)
                raise AssertionError(f"Kafka cluster not serving after {timeout_s or self.start_timeout_s}s "
                                     f"(want {want}, saw {seen}):\n{tails}")
            time.sleep(0.2)

    def start_broker(self, i: int, wait: bool = True) -> None:
        """Start node `i` again (same ports, same data); with `wait`, until it serves."""
        self._launch(self.nodes[i])
        if wait:
            self.wait_serving()

    def stop_broker(self, i: int, timeout_s: float = 30.0) -> None:
        """A clean shutdown of node `i` (SIGTERM; leadership moves first), SIGKILL after `timeout_s`."""
        node = self.nodes[i]
        if node.proc is not None:
            _kill(node.proc, signal.SIGTERM, wait_s=timeout_s)

    def kill_broker(self, i: int) -> None:
        """SIGKILL node `i`: a crash, no clean shutdown, the rest of the cluster finds out by timeouts."""
        node = self.nodes[i]
        if node.proc is not None:
            _kill(node.proc, signal.SIGKILL)

    def restart_broker(self, i: int, kill: bool = False, wait: bool = True) -> None:
        """Stop (SIGTERM, or SIGKILL with `kill`) then start node `i`; with `wait`, until it serves."""
        (self.kill_broker if kill else self.stop_broker)(i)
        self.start_broker(i, wait=wait)

    def close(self) -> None:
        """Kill every node and remove the data (the logs stay under var/test-logs/private/)."""
        for node in self.nodes:
            if node.proc is not None:
                _kill(node.proc)
            shutil.rmtree(node.dir / "data", ignore_errors=True)

    def __enter__(self) -> KafkaCluster:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Event-loop twins: the same calls in a thread, so the loop keeps serving the test's other tasks.
    async def astart(self) -> KafkaCluster:
        return await asyncio.to_thread(self.start)

    async def await_serving(self, timeout_s: float | None = None) -> None:
        await asyncio.to_thread(self.wait_serving, timeout_s)

    async def astart_broker(self, i: int, wait: bool = True) -> None:
        await asyncio.to_thread(self.start_broker, i, wait)

    async def astop_broker(self, i: int, timeout_s: float = 30.0) -> None:
        await asyncio.to_thread(self.stop_broker, i, timeout_s)

    async def arestart_broker(self, i: int, kill: bool = False, wait: bool = True) -> None:
        await asyncio.to_thread(self.restart_broker, i, kill, wait)

    async def wait_in_sync(self, topics: list[str] | None = None, timeout_s: float = 60.0) -> None:
        """Wait until every partition of `topics` (default: every topic) has all its replicas in sync:
        after a broker came back, before the next fault. Raises AssertionError at the deadline."""
        from aiokafka.admin import AIOKafkaAdminClient

        deadline = time.monotonic() + timeout_s
        lagging: list[str] = []
        while time.monotonic() < deadline:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
            try:
                await admin.start()
                names = topics or await admin.list_topics()
                lagging = [f"{t['topic']}[{p['partition']}]" for t in await admin.describe_topics(names)
                           for p in t["partitions"] if len(p["isr"]) < len(p["replicas"])]
                if not lagging:
                    return
            except Exception as exc:  # noqa: BLE001 - a cluster in the middle of a change: ask again
                lagging = [repr(exc)]
            finally:
                await admin.close()
            await asyncio.sleep(0.5)
        raise AssertionError(f"partitions not in sync after {timeout_s}s: {lagging[:10]}")


# ------------------------------------------------------------------------------------------ PostgreSQL


def pg_bin_dir() -> Path:
    """The newest installed PostgreSQL whose PostGIS is installed too (Debian layout, as postgres.sh)."""
    for major in sorted((p.name for p in Path("/usr/lib/postgresql").glob("*")), key=int, reverse=True):
        if Path(f"/usr/share/postgresql/{major}/extension/postgis.control").exists():
            return Path(f"/usr/lib/postgresql/{major}/bin")
    raise AssertionError("no PostgreSQL with PostGIS installed: run `deploy/local/bin/postgres.sh install` "
                         "(make infra-up does)")


def _pg_user() -> tuple[int, int] | None:
    """(uid, gid) of the `postgres` user when running as root (PostgreSQL refuses root), else None."""
    if os.getuid() != 0:
        return None
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


def _chown_tree(path: Path, ids: tuple[int, int] | None) -> None:
    if ids is None:
        return
    for dirpath, _dirs, files in os.walk(path):
        os.chown(dirpath, *ids)
        for f in files:
            os.chown(os.path.join(dirpath, f), *ids)


def _pg_conf(port: int, sock_dir: Path, extra: dict[str, str]) -> str:
    """The settings deploy/local/bin/postgres.sh writes (omni311.conf), for `port`, plus `extra`."""
    lines = ["# Written by tests/support/private_infra.py, as deploy/local/bin/postgres.sh writes it.",
             "listen_addresses = '127.0.0.1'", f"port = {port}", f"unix_socket_directories = '{sock_dir}'",
             "max_connections = 200", "logging_collector = off", "log_min_messages = warning",
             "log_line_prefix = '%m [%p] %q%u@%d '"]
    lines += [f"{k} = {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


_PG_TEMPLATE: Path | None = None
_PG_LOCK = threading.Lock()


def _pg_template() -> Path:
    """A data folder initialised once per process (initdb, pg_hba trust on 127.0.0.1, role omni311,
    database omni311 with PostGIS), which each instance copies: initdb and CREATE EXTENSION postgis
    cost seconds, a copy a fraction of one."""
    global _PG_TEMPLATE
    with _PG_LOCK:
        if _PG_TEMPLATE is not None and (_PG_TEMPLATE / "PG_VERSION").exists():
            return _PG_TEMPLATE
        ids = _pg_user()
        root = Path(tempfile.mkdtemp(prefix="omni311-pgtpl-"))
        os.chmod(root, 0o755)
        data = root / "data"
        _chown_tree(root, ids)
        bindir = pg_bin_dir()
        run = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                              "--locale=C.UTF-8", "--no-sync"], capture_output=True, text=True, timeout=120,
                             user=ids[0] if ids else None, group=ids[1] if ids else None, cwd="/")
        assert run.returncode == 0, f"initdb failed:\n{run.stdout}\n{run.stderr}"
        (data / "pg_hba.conf").write_text(
            "# omni311 private test cluster: trust on the local socket and on 127.0.0.1 only.\n"
            "local   all       all                  trust\nhost    all       all   127.0.0.1/32   trust\n")
        with (data / "postgresql.conf").open("a") as f:
            f.write("include_if_exists = 'omni311.conf'\n")
        _chown_tree(root, ids)
        pg = PrivatePostgres(_root=root)
        try:
            pg.start()
            pg.psql("postgres", "CREATE ROLE omni311 LOGIN SUPERUSER PASSWORD 'omni311'")
            pg.psql("postgres", "CREATE DATABASE omni311")
            pg.psql("omni311", "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis")
            pg.stop()
        finally:
            pg.close(remove=False)
        (data / "postmaster.pid").unlink(missing_ok=True)
        _PG_TEMPLATE = data
        return data


@atexit.register
def _remove_pg_template() -> None:
    if _PG_TEMPLATE is not None:
        shutil.rmtree(_PG_TEMPLATE.parent, ignore_errors=True)


class PrivatePostgres:
    """A private PostgreSQL + PostGIS on a free port of 127.0.0.1; `dsn` names database omni311 as user
    postgres (trust). `stop()` is a fast shutdown, `kill()` a crash (SIGKILL of every server process;
    the next start recovers from the WAL), `restart()` both ways.

    `settings`: more server settings (name → value text as in postgresql.conf).
    Note: `Stack.create_database` sets ``synchronous_commit = off`` on its database; a crash (`kill()`)
    may then lose the last commits the clients were told succeeded. A test that kills PostgreSQL and
    counts on every commit should set it back on for its database (``ALTER DATABASE ... SET
    synchronous_commit = on``); a fast `stop()`/`restart()` loses nothing either way.
    """

    def __init__(self, settings: dict[str, str] | None = None, start_timeout_s: float = 60.0,
                 *, _root: Path | None = None) -> None:
        _sweep_once()
        self.port = free_port()
        self.settings = dict(settings or {})
        self.start_timeout_s = start_timeout_s
        self.bindir = pg_bin_dir()
        self._ids = _pg_user()
        self.root: Path | None = _root or Path(tempfile.mkdtemp(prefix="omni311-pg-"))
        os.chmod(self.root, 0o755)
        self.data = self.root / "data"
        self.sock_dir = self.root / "run"
        self.log_path = self.root / "postgres.log"
        self.proc: subprocess.Popen | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/omni311"

    def dsn_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> PrivatePostgres:
        """Start (the first time from a copy of the session's initialised cluster) and wait until it
        accepts connections. Raises AssertionError with the log tail on failure."""
        assert self.root is not None, "closed"
        if self.running():
            return self
        if not (self.data / "PG_VERSION").exists():
            shutil.copytree(_pg_template(), self.data, symlinks=True)
            _chown_tree(self.root, self._ids)
        if not self.sock_dir.exists():
            self.sock_dir.mkdir()
            _chown_tree(self.sock_dir, self._ids)
        (self.data / "omni311.conf").write_text(_pg_conf(self.port, self.sock_dir, self.settings))
        if self._ids:
            os.chown(self.data / "omni311.conf", *self._ids)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.proc = _track(subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.data)], cwd="/", stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            user=self._ids[0] if self._ids else None, group=self._ids[1] if self._ids else None,
            extra_groups=[] if self._ids else None), remove=[self.root])
        log.close()
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"postgres exited with {self.proc.returncode}:\n{_log_tail(self.log_path)}")
            ok = subprocess.run([str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port),
                                 "-U", "postgres", "-d", "postgres"], timeout=10).returncode == 0
            if ok:
                return self
            if time.monotonic() > deadline:
                raise AssertionError(f"postgres not ready after {self.start_timeout_s}s:\n{_log_tail(self.log_path)}")
            time.sleep(0.1)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Fast shutdown (SIGINT: clients disconnected, a checkpoint written), SIGKILL after `timeout_s`."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
            _kill(self.proc)

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend (its process group): a crash, recovered at next start."""
        if self.proc is not None:
            _kill(self.proc)

    def restart(self, kill: bool = False) -> None:
        """Stop (fast, or a crash with `kill`) and start again on the same port."""
        (self.kill if kill else self.stop)()
        self.start()

    def psql(self, database: str, sql: str) -> str:
        """Run `sql` with psql (ON_ERROR_STOP) and return its unaligned output. Raises AssertionError."""
        run = subprocess.run([str(self.bindir / "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                              "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"psql failed on {sql!r}:\n{run.stderr}"
        return run.stdout

    def close(self, remove: bool = True) -> None:
        """Kill the server and (with `remove`) delete its folder."""
        if self.proc is not None:
            _kill(self.proc)
        if remove and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> PrivatePostgres:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def astart(self) -> PrivatePostgres:
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    async def arestart(self, kill: bool = False) -> None:
        await asyncio.to_thread(self.restart, kill)


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def private_kafka() -> Iterator[KafkaCluster]:
    """A private one-node Kafka for the module (`.bootstrap`, `.restart_broker(0)`...)."""
    with KafkaCluster(brokers=1) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def private_kafka3() -> Iterator[KafkaCluster]:
    """A private three-node Kafka for the module: internal topics at replication factor 3, min ISR 2."""
    with KafkaCluster(brokers=3) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A private PostgreSQL + PostGIS for the module (`.dsn`, `.restart()`, `.kill()`...)."""
    with PrivatePostgres() as pg:
        yield pg
