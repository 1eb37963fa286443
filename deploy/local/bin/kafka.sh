#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) on the JVM, from Maven Central jars (no Docker, no tarball).
#
#   deploy/local/bin/kafka.sh install   resolve the broker classpath into deploy/local/lib/kafka (once)
#   deploy/local/bin/kafka.sh start     format storage once, start the broker, wait until it serves metadata
#   deploy/local/bin/kafka.sh stop      SIGTERM, wait up to 30 s, then SIGKILL
#   deploy/local/bin/kafka.sh status    exit 0 when running and answering, 1 otherwise
#
# Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_HEAP_OPTS ("-Xms256m -Xmx512m"),
#      KAFKA_START_TIMEOUT (90), PYTHON (.venv/bin/python, needs aiokafka for the readiness check),
#      OMNI311_KAFKA_EXTERNAL=1 (a broker is provided elsewhere, e.g. another checkout's: do nothing).
# A broker of another checkout already answering on 127.0.0.1:$KAFKA_PORT is reused (start says so in
# one line and stop leaves it alone); a port held by something that is not a broker is an error.
# Binds to 127.0.0.1 only. Data, pid and logs live in <repo>/var/kafka (gitignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
PYTHON="${PYTHON:-.venv/bin/python}"

CONF_DIR="$ROOT/deploy/local/kafka"
LIB_DIR="$ROOT/deploy/local/lib/kafka"
VAR_DIR="$ROOT/var/kafka"
DATA_DIR="$VAR_DIR/data"
PID_FILE="$VAR_DIR/kafka.pid"
LOG_FILE="$VAR_DIR/kafka.log"          # stdout/stderr of the JVM (WARN and above)
SERVER_LOG="$VAR_DIR/logs/server.log"  # INFO log written by log4j2
PROPS="$VAR_DIR/server.properties"
STAMP="$LIB_DIR/.installed"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

COMPONENT=kafka
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${OMNI311_KAFKA_EXTERNAL:-}" == "1" ]]; then
  log "OMNI311_KAFKA_EXTERNAL=1: using an external broker at $BOOTSTRAP, nothing to do for '${1:-}'"
  exit 0
fi

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
      -DincludeScope=runtime -DoutputDirectory="$LIB_DIR" >"$VAR_DIR.mvn.log" 2>&1; then
    cat "$VAR_DIR.mvn.log" >&2
    die "maven could not resolve the Kafka jars"
  fi
  rm -f "$VAR_DIR.mvn.log"
  compgen -G "$LIB_DIR/kafka_2.13-*.jar" >/dev/null || die "kafka_2.13 jar missing after mvn"
  pom_hash >"$STAMP"
  log "install: $(ls "$LIB_DIR"/*.jar | wc -l) jars in $((SECONDS - t0)) s"
}

render_props() {
  mkdir -p "$VAR_DIR/logs" "$DATA_DIR"
  sed -e "s|\${KAFKA_PORT}|$KAFKA_PORT|g" \
      -e "s|\${KAFKA_CONTROLLER_PORT}|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|\${KAFKA_DATA_DIR}|$DATA_DIR|g" \
      "$CONF_DIR/server.properties" >"$PROPS.tmp"
  mv "$PROPS.tmp" "$PROPS"
}

JAVA_LOG_OPTS=()
set_java_opts() {
  JAVA_LOG_OPTS=(
    "-Dlog4j2.configurationFile=$CONF_DIR/log4j2.properties"
    "-Dkafka.logs.dir=$VAR_DIR/logs"
    "-Djava.awt.headless=true"
  )
}

format_storage() {
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    return 0
  fi
  local java cluster_id
  java="$(java_cmd)"
  if [[ -f "$VAR_DIR/cluster.id" ]]; then
    cluster_id="$(cat "$VAR_DIR/cluster.id")"
  else
    cluster_id="$("$java" "${JAVA_LOG_OPTS[@]}" -cp "$LIB_DIR/*" kafka.tools.StorageTool random-uuid 2>>"$LOG_FILE" | tail -n1)"
    [[ -n "$cluster_id" ]] || die "StorageTool random-uuid printed nothing (see $LOG_FILE)"
    echo "$cluster_id" >"$VAR_DIR/cluster.id"
  fi
  log "start: formatting $DATA_DIR (cluster id $cluster_id)"
  "$java" "${JAVA_LOG_OPTS[@]}" -cp "$LIB_DIR/*" kafka.tools.StorageTool \
    format -t "$cluster_id" -c "$PROPS" --ignore-formatted >>"$LOG_FILE" 2>&1 \
    || die "storage format failed (see $LOG_FILE)"
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
    if not info.get("brokers"):
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
sys.exit(0 if corr == 7 and nbrokers > 0 else 1)
'

ready_once() {
  local py rc
  py="$PYTHON"
  if [[ -x "$py" ]] || command -v "$py" >/dev/null 2>&1; then
    rc=0
    "$py" -c "$READY_PY" "$BOOTSTRAP" 2>/dev/null || rc=$?
    [[ $rc -ne 3 ]] && return $rc
    log "aiokafka not importable with $py; using a stdlib metadata request"
  fi
  python3 -c "$READY_STDLIB_PY" "$BOOTSTRAP"
}

do_start() {
  local t0=$SECONDS pid
  if pid="$(running_pid)"; then
    log "start: already running (pid $pid) on $BOOTSTRAP"
    return 0
  fi
  if port_open "$KAFKA_PORT"; then
    # Another checkout's broker (or one started by hand): use it rather than fail.
    if ready_once >/dev/null 2>&1; then
      log "start: reusing the broker already answering on $BOOTSTRAP (not started by this checkout; set OMNI311_KAFKA_EXTERNAL=1 to say so)"
      return 0
    fi
    die "port 127.0.0.1:$KAFKA_PORT is held by a process that is not a Kafka broker: stop it, set KAFKA_PORT (and OMNI311_KAFKA_BOOTSTRAP) to a free port, or set OMNI311_KAFKA_EXTERNAL=1 with OMNI311_KAFKA_BOOTSTRAP pointing at your broker"
  fi
  port_open "$KAFKA_CONTROLLER_PORT" && die "controller port 127.0.0.1:$KAFKA_CONTROLLER_PORT is already in use by another process: set KAFKA_CONTROLLER_PORT to a free port, or OMNI311_KAFKA_EXTERNAL=1 to use a broker of your own"
  do_install
  mkdir -p "$VAR_DIR"
  rm -f "$PID_FILE"
  render_props
  set_java_opts
  format_storage
  local java
  java="$(java_cmd)"
  log "start: launching broker on $BOOTSTRAP (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)"
  echo "=== $(date -Is) start" >>"$LOG_FILE"
  # setsid: own session, so the broker outlives the calling shell; exec keeps the pid written.
  # shellcheck disable=SC2086
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    "$java" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    "${JAVA_LOG_OPTS[@]}" -cp "$LIB_DIR/*" kafka.Kafka "$PROPS" \
    </dev/null >>"$LOG_FILE" 2>&1 &
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if [[ -s "$PID_FILE" ]] && ! running_pid >/dev/null; then
      tail -n 30 "$LOG_FILE" >&2 || true
      die "broker exited during startup (see $LOG_FILE and $SERVER_LOG)"
    fi
    if port_open "$KAFKA_PORT" && ready_once >/dev/null; then
      log "start: ready on $BOOTSTRAP (pid $(cat "$PID_FILE")) in $((SECONDS - t0)) s"
      return 0
    fi
    sleep 1
  done
  tail -n 30 "$LOG_FILE" >&2 || true
  die "broker not ready after ${KAFKA_START_TIMEOUT} s (see $LOG_FILE and $SERVER_LOG)"
}

running_pid() { pid_of "$PID_FILE" 'kafka\.Kafka'; }

do_stop() { stop_pid_file "$PID_FILE" 'kafka\.Kafka'; }

do_status() {
  local pid out
  if ! pid="$(running_pid)"; then
    if port_open "$KAFKA_PORT" && out="$(ready_once 2>/dev/null)"; then
      echo "kafka: a broker not started by this checkout answers on $BOOTSTRAP${out:+ ($out)}"
      return 0
    fi
    echo "kafka: stopped"
    return 1
  fi
  if out="$(ready_once 2>/dev/null)"; then
    echo "kafka: running pid $pid on $BOOTSTRAP${out:+ ($out)}"
    return 0
  fi
  echo "kafka: pid $pid alive but not answering on $BOOTSTRAP"
  return 1
}

component_main "$@"
