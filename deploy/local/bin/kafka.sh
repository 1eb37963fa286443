#!/usr/bin/env bash
# Local Apache Kafka (KRaft) on the JVM, from Maven Central jars (no Docker, no tarball): one broker, or a
# cluster of three (KAFKA_BROKERS=3) as production runs it, to see that losing a broker loses nothing.
#
#   deploy/local/bin/kafka.sh install   resolve the broker classpath into deploy/local/lib/kafka (once)
#   deploy/local/bin/kafka.sh start     format storage once, start the broker(s), wait until each serves metadata
#                                       and lists every broker
#   deploy/local/bin/kafka.sh stop      SIGTERM, wait up to 30 s, then SIGKILL; stops this checkout's single
#                                       broker and its three-broker cluster, whichever runs
#   deploy/local/bin/kafka.sh status    exit 0 when every broker runs and answers, 1 otherwise
#   deploy/local/bin/kafka.sh env       `export` lines for the services when this checkout's three-broker
#                                       cluster runs (OMNI311_KAFKA_BOOTSTRAP listing the three,
#                                       OMNI311_KAFKA_REPLICATION_FACTOR=3), skipping a variable already set;
#                                       nothing for one broker (the settings' defaults fit it)
#   deploy/local/bin/kafka.sh bootstrap print the bootstrap servers (host:port, comma-separated)
#   deploy/local/bin/kafka.sh config N  print node N's rendered server.properties (1-based)
#
# Env: KAFKA_BROKERS (1 or 3; unset: 3 while this checkout's three-broker cluster runs, else 1),
#      KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093): node N (1-based) serves on KAFKA_PORT + 2(N-1) and its
#      controller on KAFKA_CONTROLLER_PORT + 2(N-1), so three brokers take 9092/9094/9096 (controllers
#      9093/9095/9097); KAFKA_HEAP_OPTS ("-Xms256m -Xmx512m"; with three brokers "-Xms128m -Xmx384m" each),
#      KAFKA_START_TIMEOUT (90), PYTHON (.venv/bin/python, needs aiokafka for the readiness check),
#      OMNI311_KAFKA_EXTERNAL=1 (a broker is provided elsewhere, e.g. another checkout's: do nothing).
# With three brokers every node is a broker and a KRaft controller (a quorum of three survives one loss);
# the internal topics (consumer offsets, transaction state) have replication factor 3 and min ISR 2, and
# so does a topic created without saying (default.replication.factor, min.insync.replicas).
# A single broker of another checkout already answering on 127.0.0.1:$KAFKA_PORT is reused (start says so in
# one line and stop leaves it alone); a port held by something that is not a broker is an error, and so is
# any port of a three-broker cluster held by another process.
# Binds to 127.0.0.1 only. Data, pid and logs live in <repo>/var/kafka (one broker) or
# <repo>/var/kafka-cluster/node<N> (three), both gitignored; the two never share data.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
PYTHON="${PYTHON:-.venv/bin/python}"

CONF_DIR="$ROOT/deploy/local/kafka"
LIB_DIR="$ROOT/deploy/local/lib/kafka"
SINGLE_DIR="$ROOT/var/kafka"           # one broker (KAFKA_BROKERS=1)
CLUSTER_DIR="$ROOT/var/kafka-cluster"  # three brokers: node1, node2, node3
STAMP="$LIB_DIR/.installed"

COMPONENT=kafka
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${OMNI311_KAFKA_EXTERNAL:-}" == "1" ]]; then
  log "OMNI311_KAFKA_EXTERNAL=1: using an external broker at 127.0.0.1:$KAFKA_PORT, nothing to do for '${1:-}'"
  exit 0
fi

cluster_pid() { pid_of "$CLUSTER_DIR/node$1/kafka.pid" 'kafka\.Kafka'; }
cluster_running() {
  local n
  for n in 1 2 3; do cluster_pid "$n" >/dev/null && return 0; done
  return 1
}

# How many brokers: KAFKA_BROKERS, else the cluster this checkout already runs, else one.
if [[ -z "${KAFKA_BROKERS:-}" ]]; then
  if cluster_running; then KAFKA_BROKERS=3; else KAFKA_BROKERS=1; fi
fi
[[ "$KAFKA_BROKERS" == "1" || "$KAFKA_BROKERS" == "3" ]] || die "KAFKA_BROKERS=$KAFKA_BROKERS: one broker (1) or a cluster of three (3)"
if [[ "$KAFKA_BROKERS" == "3" ]]; then
  KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx384m}"
  REPLICATION=3
else
  KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
  REPLICATION=1
fi
MIN_INSYNC=$(( REPLICATION > 1 ? REPLICATION - 1 : 1 ))

# node N (1-based): its ports and files.
node_port() { echo $((KAFKA_PORT + 2 * ($1 - 1))); }
node_controller_port() { echo $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }
node_dir() { if [[ "$KAFKA_BROKERS" == "1" ]]; then echo "$SINGLE_DIR"; else echo "$CLUSTER_DIR/node$1"; fi; }
nodes() { seq 1 "$KAFKA_BROKERS"; }
bootstrap() {
  local n out=()
  for n in $(nodes); do out+=("127.0.0.1:$(node_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}
voters() {
  local n out=()
  for n in $(nodes); do out+=("$n@127.0.0.1:$(node_controller_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}
cluster_id_file() { if [[ "$KAFKA_BROKERS" == "1" ]]; then echo "$SINGLE_DIR/cluster.id"; else echo "$CLUSTER_DIR/cluster.id"; fi; }

pom_hash() { sha256sum "$CONF_DIR/pom.xml" | cut -d' ' -f1; }

java_cmd() {
  command -v java >/dev/null || die "java not found (Java 17+ required)"
  echo java
}

do_install() {
  local t0=$SECONDS
  mkdir -p "$ROOT/var"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(pom_hash)" ]] && compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null; then
    log "install: jars present in deploy/local/lib/kafka (skip)"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (Maven 3 required)"
  log "install: resolving Kafka broker jars from Maven Central ..."
  rm -rf "$LIB_DIR"
  mkdir -p "$LIB_DIR"
  if ! mvn -q -B -f "$CONF_DIR/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$LIB_DIR" >"$ROOT/var/kafka.mvn.log" 2>&1; then
    cat "$ROOT/var/kafka.mvn.log" >&2
    die "maven could not resolve the Kafka jars"
  fi
  rm -f "$ROOT/var/kafka.mvn.log"
  compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null || die "kafka_2.13 jar missing after mvn"
  pom_hash >"$STAMP"
  log "install: $(ls "$LIB_DIR"/*.jar | wc -l) jars in $((SECONDS - t0)) s"
}

render_props() {
  # render_props N: deploy/local/kafka/server.properties for node N, printed.
  local n="$1" dir
  dir="$(node_dir "$n")"
  sed -e "s|\${KAFKA_PORT}|$(node_port "$n")|g" \
      -e "s|\${KAFKA_CONTROLLER_PORT}|$(node_controller_port "$n")|g" \
      -e "s|\${KAFKA_DATA_DIR}|$dir/data|g" \
      -e "s|\${KAFKA_NODE_ID}|$n|g" \
      -e "s|\${KAFKA_QUORUM_VOTERS}|$(voters)|g" \
      -e "s|\${KAFKA_REPLICATION_FACTOR}|$REPLICATION|g" \
      -e "s|\${KAFKA_MIN_INSYNC_REPLICAS}|$MIN_INSYNC|g" \
      "$CONF_DIR/server.properties"
}

write_props() {
  local dir
  dir="$(node_dir "$1")"
  mkdir -p "$dir/logs" "$dir/data"
  render_props "$1" >"$dir/server.properties.tmp"
  mv "$dir/server.properties.tmp" "$dir/server.properties"
}

java_opts() {
  # java_opts N: logging options of node N.
  echo "-Dlog4j2.configurationFile=$CONF_DIR/log4j2.properties -Dkafka.logs.dir=$(node_dir "$1")/logs -Djava.awt.headless=true"
}

new_cluster_id() {
  # A Kafka Uuid as `StorageTool random-uuid` prints it (URL-safe base64 of 16 random bytes, no padding),
  # without a JVM start.
  head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
  echo
}

format_storage() {
  # format_storage N: once per node; every node of a cluster gets the same cluster id.
  local n="$1" dir java cluster_id id_file
  dir="$(node_dir "$n")"
  [[ -f "$dir/data/meta.properties" ]] && return 0
  java="$(java_cmd)"
  id_file="$(cluster_id_file)"
  [[ -f "$id_file" ]] || new_cluster_id >"$id_file"
  cluster_id="$(cat "$id_file")"
  log "start: formatting $dir/data (cluster id $cluster_id, node $n)"
  # shellcheck disable=SC2046
  "$java" $(java_opts "$n") -cp "$LIB_DIR/*" kafka.tools.StorageTool \
    format -t "$cluster_id" -c "$dir/server.properties" --ignore-formatted >>"$dir/kafka.log" 2>&1 \
    || die "storage format failed for node $n (see $dir/kafka.log)"
}

READY_PY='
import asyncio, sys
try:
    from aiokafka.admin import AIOKafkaAdminClient
except ImportError:
    sys.exit(3)

async def main():
    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=5000)
    await admin.start()
    try:
        info = await admin.describe_cluster()
    finally:
        await admin.close()
    if len(info.get("brokers") or []) < int(sys.argv[2]):
        sys.exit(1)
    print("cluster %s, controller %s, brokers %d" % (info.get("cluster_id"), info.get("controller_id"), len(info["brokers"])))

try:
    asyncio.run(asyncio.wait_for(main(), 15))
except SystemExit:
    raise
except BaseException as exc:
    print("not ready: %r" % (exc,), file=sys.stderr)
    sys.exit(1)
'

# Fallback when aiokafka is not importable: a stdlib Metadata v4 request (empty topic list means
# "no topics", so the answer is small); ready when the broker lists itself.
READY_STDLIB_PY='
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
cid = b"omni311-ready"
req = struct.pack(">hhih", 3, 4, 7, len(cid)) + cid + struct.pack(">ib", 0, 0)
try:
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(struct.pack(">i", len(req)) + req)
        hdr = b""
        while len(hdr) < 4:
            chunk = s.recv(4 - len(hdr))
            if not chunk:
                sys.exit(1)
            hdr += chunk
        (n,) = struct.unpack(">i", hdr)
        body = b""
        while len(body) < n:
            chunk = s.recv(n - len(body))
            if not chunk:
                sys.exit(1)
            body += chunk
except OSError:
    sys.exit(1)
corr, _throttle, nbrokers = struct.unpack(">iii", body[:12])
sys.exit(0 if corr == 7 and nbrokers >= max(1, int(sys.argv[2])) else 1)
'

ready_once() {
  # ready_once HOST:PORT [BROKERS]: the broker answers and lists at least BROKERS brokers (default 1).
  local py rc want="${2:-1}"
  py="$PYTHON"
  if [[ -x "$py" ]] || command -v "$py" >/dev/null 2>&1; then
    rc=0
    "$py" -c "$READY_PY" "$1" "$want" 2>/dev/null || rc=$?
    [[ $rc -ne 3 ]] && return $rc
    log "aiokafka not importable with $py; using a stdlib metadata request"
  fi
  python3 -c "$READY_STDLIB_PY" "$1" "$want"
}

single_pid() { pid_of "$SINGLE_DIR/kafka.pid" 'kafka\.Kafka'; }
running_pid() { pid_of "$(node_dir "$1")/kafka.pid" 'kafka\.Kafka'; }

launch() {
  # launch N: start node N in its own session (it outlives the calling shell); exec keeps the pid written.
  local n="$1" dir java
  dir="$(node_dir "$n")"
  java="$(java_cmd)"
  rm -f "$dir/kafka.pid"
  echo "=== $(date -Is) start" >>"$dir/kafka.log"
  # shellcheck disable=SC2086,SC2046
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$dir/kafka.pid" \
    "$java" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    $(java_opts "$n") -cp "$LIB_DIR/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >>"$dir/kafka.log" 2>&1 &
}

do_start_single() {
  local t0=$SECONDS pid
  if pid="$(running_pid 1)"; then
    log "start: already running (pid $pid) on $(bootstrap)"
    return 0
  fi
  if cluster_running; then
    die "this checkout's three-broker Kafka runs (var/kafka-cluster): stop it first (make infra-down), or start with KAFKA_BROKERS=3"
  fi
  if port_open "$KAFKA_PORT"; then
    # Another checkout's broker (or one started by hand): use it rather than fail.
    if ready_once "$(bootstrap)" >/dev/null 2>&1; then
      log "start: reusing the broker already answering on $(bootstrap) (not started by this checkout; set OMNI311_KAFKA_EXTERNAL=1 to say so)"
      return 0
    fi
    die "port 127.0.0.1:$KAFKA_PORT is held by a process that is not a Kafka broker: stop it, set KAFKA_PORT (and OMNI311_KAFKA_BOOTSTRAP) to a free port, or set OMNI311_KAFKA_EXTERNAL=1 with OMNI311_KAFKA_BOOTSTRAP pointing at your broker"
  fi
  port_open "$KAFKA_CONTROLLER_PORT" && die "controller port 127.0.0.1:$KAFKA_CONTROLLER_PORT is already in use by another process: set KAFKA_CONTROLLER_PORT to a free port, or OMNI311_KAFKA_EXTERNAL=1 to use a broker of your own"
  do_install
  write_props 1
  format_storage 1
  log "start: launching broker on $(bootstrap) (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)"
  launch 1
  wait_ready "$t0" 1
}

do_start_cluster() {
  local t0=$SECONDS n pid todo=()
  if pid="$(single_pid)"; then
    die "this checkout's single broker runs (pid $pid, var/kafka): stop it first (make infra-down), then start the three"
  fi
  for n in $(nodes); do
    if pid="$(running_pid "$n")"; then continue; fi
    port_open "$(node_port "$n")" && die "port 127.0.0.1:$(node_port "$n") (broker $n of 3) is held by another process: stop it, or set KAFKA_PORT so that KAFKA_PORT, +2 and +4 are free (and OMNI311_KAFKA_BOOTSTRAP), or OMNI311_KAFKA_EXTERNAL=1"
    port_open "$(node_controller_port "$n")" && die "controller port 127.0.0.1:$(node_controller_port "$n") (node $n of 3) is held by another process: set KAFKA_CONTROLLER_PORT so that it, +2 and +4 are free"
    todo+=("$n")
  done
  if ((${#todo[@]} == 0)); then
    log "start: already running, 3 brokers on $(bootstrap)"
    return 0
  fi
  do_install
  mkdir -p "$CLUSTER_DIR"
  for n in $(nodes); do write_props "$n"; done
  [[ -f "$(cluster_id_file)" ]] || new_cluster_id >"$(cluster_id_file)"
  # One JVM each, at once (a first start only).
  local fmt=()
  for n in "${todo[@]}"; do format_storage "$n" & fmt+=($!); done
  for pid in "${fmt[@]}"; do wait "$pid" || die "storage format failed (see var/kafka-cluster/node*/kafka.log)"; done
  for n in "${todo[@]}"; do
    log "start: launching broker $n of 3 on 127.0.0.1:$(node_port "$n") (controller 127.0.0.1:$(node_controller_port "$n"))"
    launch "$n"
  done
  wait_ready "$t0" 3
}

wait_ready() {
  # wait_ready T0 BROKERS: until every node answers and lists BROKERS brokers.
  local t0="$1" want="$2" n dir deadline=$((SECONDS + KAFKA_START_TIMEOUT)) ok
  while ((SECONDS < deadline)); do
    ok=1
    for n in $(nodes); do
      dir="$(node_dir "$n")"
      if [[ -s "$dir/kafka.pid" ]] && ! running_pid "$n" >/dev/null; then
        tail -n 30 "$dir/kafka.log" >&2 || true
        die "broker $n exited during startup (see $dir/kafka.log and $dir/logs/server.log)"
      fi
      if ! { port_open "$(node_port "$n")" && ready_once "127.0.0.1:$(node_port "$n")" "$want" >/dev/null; }; then
        ok=0
        break
      fi
    done
    if ((ok)); then
      if [[ "$want" == "1" ]]; then
        log "start: ready on $(bootstrap) (pid $(cat "$(node_dir 1)/kafka.pid")) in $((SECONDS - t0)) s"
      else
        log "start: ready, $want brokers on $(bootstrap) in $((SECONDS - t0)) s"
      fi
      return 0
    fi
    sleep 1
  done
  for n in $(nodes); do tail -n 15 "$(node_dir "$n")/kafka.log" >&2 || true; done
  die "Kafka not ready after ${KAFKA_START_TIMEOUT} s (see $(node_dir 1)/kafka.log and logs/server.log$([[ "$want" == 1 ]] || echo ", of every node"))"
}

do_start() {
  if [[ "$KAFKA_BROKERS" == "3" ]]; then do_start_cluster; else do_start_single; fi
}

do_stop() {
  # Both layouts, whichever runs: `make stop` needs no KAFKA_BROKERS.
  if [[ -f "$SINGLE_DIR/kafka.pid" ]] || ! cluster_running; then
    stop_pid_file "$SINGLE_DIR/kafka.pid" 'kafka\.Kafka'
  fi
  cluster_running && stop_cluster
  rm -f "$CLUSTER_DIR"/node*/kafka.pid
}

stop_cluster() {
  # SIGTERM to the three at once, SIGKILL after 30 s: stopped one after another, the last node waits for a
  # quorum that is gone (its controlled shutdown never completes).
  local n pid pids=() t0=$SECONDS
  for n in 1 2 3; do
    if pid="$(cluster_pid "$n")"; then pids+=("$pid"); fi
  done
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 60); do
    for n in "${!pids[@]}"; do kill -0 "${pids[$n]}" 2>/dev/null || unset "pids[$n]"; done
    ((${#pids[@]})) || break
    sleep 0.5
  done
  if ((${#pids[@]})); then
    log "stop: ${#pids[@]} broker(s) still running after 30 s, sending SIGKILL"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    sleep 0.5
  fi
  log "stop: three-broker cluster stopped in $((SECONDS - t0)) s"
}

do_status() {
  local pid out n down=()
  if [[ "$KAFKA_BROKERS" == "3" ]]; then
    for n in $(nodes); do running_pid "$n" >/dev/null || down+=("$n (127.0.0.1:$(node_port "$n"))"); done
    if ((${#down[@]} == 3)); then
      echo "kafka: stopped (3 brokers)"
      return 1
    fi
    if ((${#down[@]})); then
      echo "kafka: $((3 - ${#down[@]})) of 3 brokers running on $(bootstrap); stopped: ${down[*]}"
      return 1
    fi
    if out="$(ready_once "127.0.0.1:$(node_port 1)" 3 2>/dev/null)"; then
      echo "kafka: running 3 brokers on $(bootstrap)${out:+ ($out)}, replication factor 3, min ISR 2"
      return 0
    fi
    echo "kafka: 3 broker processes alive but the cluster does not list all three on $(bootstrap)"
    return 1
  fi
  if ! pid="$(running_pid 1)"; then
    if port_open "$KAFKA_PORT" && out="$(ready_once "$(bootstrap)" 2>/dev/null)"; then
      echo "kafka: a broker not started by this checkout answers on $(bootstrap)${out:+ ($out)}"
      return 0
    fi
    echo "kafka: stopped"
    return 1
  fi
  if out="$(ready_once "$(bootstrap)" 2>/dev/null)"; then
    echo "kafka: running pid $pid on $(bootstrap)${out:+ ($out)}"
    return 0
  fi
  echo "kafka: pid $pid alive but not answering on $(bootstrap)"
  return 1
}

do_env() {
  # Only for this checkout's running three-broker cluster; a variable already set wins.
  cluster_running || return 0
  [[ "$KAFKA_BROKERS" == "3" ]] || return 0
  [[ -n "${OMNI311_KAFKA_BOOTSTRAP:-}" ]] || echo "export OMNI311_KAFKA_BOOTSTRAP=$(bootstrap)"
  [[ -n "${OMNI311_KAFKA_REPLICATION_FACTOR:-}" ]] || echo "export OMNI311_KAFKA_REPLICATION_FACTOR=$REPLICATION"
}

case "${1:-}" in
  env) do_env ;;
  bootstrap) bootstrap ;;
  config)
    [[ "${2:-}" =~ ^[1-3]$ && "${2:-}" -le "$KAFKA_BROKERS" ]] || die "usage: $0 config N (1..$KAFKA_BROKERS)"
    render_props "$2" ;;
  *) component_main "$@" ;;
esac
