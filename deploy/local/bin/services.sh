#!/usr/bin/env bash
# Start or stop every omni311 service (and the local fakes of Twilio, Graph and Mastodon) as background
# processes on this machine, each kept running by its supervisor (deploy/local/bin/supervise.py).
#
#   deploy/local/bin/services.sh start    the fakes (unless DEV_FAKES=0), then case, router, dedup, notifier,
#                                         intake_web, intake_email, intake_sms_voice, intake_social, insights,
#                                         workbench, webhooks, forwarder; wait until each is ready (GET /readyz)
#   deploy/local/bin/services.sh stop     SIGTERM each supervisor (its process stops gracefully), SIGKILL after 20 s
#   deploy/local/bin/services.sh status   one line per process (supervisor pid, process pid, restarts)
#
# SCALE=case=2,router=2,dedup=2,notifier=2 (`make run SCALE=...`) starts replicas beyond the first, each its
# own process in the service's consumer group: <service>-<i> on the service's port + 100 × (i − 1), e.g.
# case-2 on 8181 (deploy/local/bin/scale.py, which refuses a bad value with one line before anything starts).
# `stop` and `status` find the replicas from their pid files, whatever SCALE is then.
#
# A process that exits on its own is restarted by its supervisor after 1 s, 2 s, 4 s ... (at most 30 s;
# back to 1 s once it had stayed up a minute), each restart a line in var/logs/supervisor.log and in its log.
# Logs: var/run/<name>.log; pids: var/run/<name>.pid (the supervisor, leader of the process group) and
# var/run/<name>.child.pid (the process itself, which serves the port). A supervisor killed on its own
# (kill -9 of <name>.pid) takes its process with it (Linux: PR_SET_PDEATHSIG), and `stop` also stops a
# process left in <name>.child.pid. Settings come from OMNI311_* variables.
set -euo pipefail
BIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BIN/../../.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
FAKES=(fake_twilio fake_graph fake_mastodon)
SERVICES=(case router dedup notifier intake_web intake_email intake_sms_voice intake_social insights workbench webhooks forwarder)
# Replicas beyond the first (SCALE): name -> service and port; stop and status add those found in var/run.
REPLICAS=()
declare -A REPLICA_OF=() REPLICA_PORT=()
# Replica names as scale.py makes them: <scalable service>-<i>.
REPLICA_RE='^(case|router|dedup|notifier)-[0-9]+$'
ALL=("${FAKES[@]}" "${SERVICES[@]}")
# Ready failing: a process restarted this many times before it answered /readyz is not going to.
MAX_START_RESTARTS=3
mkdir -p var/run var/logs
touch var/logs/supervisor.log  # the restart log the README names exists before any restart

# The ports come from the one table, shared/settings.py SERVICE_PORTS (the fakes': tools/fakes PORTS).
ports() {
  "$PY" -c 'from shared.settings import SERVICE_PORTS
from tools.fakes import PORTS
for name, port in SERVICE_PORTS.items(): print(f"PORT_{name}={port}")
for name, port in PORTS.items(): print(f"PORT_fake_{name}={port}")'
}
scaled() {
  local lines name service port
  lines="$("$PY" "$BIN/scale.py" "${SCALE:-}")" || exit 2
  while read -r name service port; do
    [[ -n "$name" ]] || continue
    REPLICAS+=("$name"); REPLICA_OF[$name]="$service"; REPLICA_PORT[$name]="$port"
  done <<<"$lines"
}
# Replicas with a pid file (started by an earlier `start` with SCALE), added to ALL for stop and status.
found_replicas() {
  local f name
  for f in var/run/*.pid; do
    name="$(basename "$f" .pid)"
    if [[ "$name" =~ $REPLICA_RE && ! " ${ALL[*]} " == *" $name "* ]]; then ALL+=("$name"); fi
  done
}
command_of() {
  case "$1" in
    fake_*) echo "$PY -m tools.fakes ${1#fake_}" ;;
    *-[0-9]*) echo "$PY -m services.${1%-*}" ;;
    *) echo "$PY -m services.$1" ;;
  esac
}

running() { [[ -f "var/run/$1.pid" ]] && kill -0 "$(cat "var/run/$1.pid")" 2>/dev/null; }
# The process itself, when it outlived its supervisor (or runs beside it).
child_running() { [[ -f "var/run/$1.child.pid" ]] && kill -0 "$(cat "var/run/$1.child.pid")" 2>/dev/null; }
# The supervisor's count of restarts; 0 while it has none written yet (a file being written reads empty).
restarts() { local n; n="$(cat "var/run/$1.restarts" 2>/dev/null || true)"; [[ "$n" =~ ^[0-9]+$ ]] && echo "$n" || echo 0; }

start() {
  local started=()
  # This checkout's three-broker Kafka (make infra-up KAFKA_BROKERS=3): every broker and replication factor 3.
  eval "$("$BIN/infra.sh" env 2>/dev/null)"
  if [[ "${DEV_FAKES:-1}" == "1" ]]; then started+=("${FAKES[@]}"); fi
  started+=("${SERVICES[@]}")
  scaled
  started+=("${REPLICAS[@]}")
  eval "$(ports)"
  for s in "${started[@]}"; do
    if running "$s"; then echo "$s already running"; continue; fi
    rm -f "var/run/$s.restarts" "var/run/$s.child.pid"
    # A replica's own port (its first replica's comes from the port table).
    local port_env=()
    if [[ -n "${REPLICA_PORT[$s]:-}" ]]; then port_env=(env "OMNI311_HTTP_PORT=${REPLICA_PORT[$s]}"); fi
    # shellcheck disable=SC2046 # the command's words
    "${port_env[@]}" setsid "$PY" "$BIN/supervise.py" "$s" -- $(command_of "$s") >>"var/run/$s.log" 2>&1 < /dev/null &
    echo $! > "var/run/$s.pid"
  done
  for s in "${started[@]}"; do
    local port ok=0 var="PORT_$s"
    if [[ -n "${REPLICA_PORT[$s]:-}" ]]; then port="${REPLICA_PORT[$s]}"; else port="${!var}"; fi
    for _ in $(seq 1 120); do
      if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ok=1; break; fi
      if ! running "$s" || (( $(restarts "$s") >= MAX_START_RESTARTS )); then break; fi
      sleep 0.5
    done
    if [[ $ok == 1 ]]; then printf '%-16s ready  http://127.0.0.1:%s\n' "$s" "$port"
    else printf '%-16s FAILED (see var/run/%s.log)\n' "$s" "$s"; tail -n 30 "var/run/$s.log" >&2; exit 1; fi
  done
}

stop() {
  local was=()
  found_replicas
  for s in "${ALL[@]}"; do
    if running "$s" || child_running "$s"; then was+=("$s"); fi
  done
  for s in "${ALL[@]}"; do
    # The supervisor passes SIGTERM on to its process and restarts nothing more; a process whose
    # supervisor is gone is sent SIGTERM itself.
    if running "$s"; then kill -TERM "$(cat "var/run/$s.pid")" 2>/dev/null || true
    elif child_running "$s"; then kill -TERM "$(cat "var/run/$s.child.pid")" 2>/dev/null || true; fi
  done
  for s in "${ALL[@]}"; do
    if ! running "$s" && ! child_running "$s"; then
      rm -f "var/run/$s.pid" "var/run/$s.child.pid" "var/run/$s.restarts"
      if [[ " ${was[*]} " == *" $s "* ]]; then echo "$s stopped"; fi
      continue
    fi
    for _ in $(seq 1 50); do running "$s" || child_running "$s" || break; sleep 0.5; done
    if running "$s"; then kill -KILL -- "-$(cat "var/run/$s.pid")" 2>/dev/null || true; fi
    if child_running "$s"; then kill -KILL "$(cat "var/run/$s.child.pid")" 2>/dev/null || true; fi
    rm -f "var/run/$s.pid" "var/run/$s.child.pid" "var/run/$s.restarts"
    echo "$s stopped"
  done
  if [[ ${#was[@]} == 0 ]]; then echo "no service was running"; fi
}

status() {
  local rc=0
  found_replicas
  for s in "${ALL[@]}"; do
    if running "$s"; then
      echo "$s running (supervisor $(cat "var/run/$s.pid"), pid $(cat "var/run/$s.child.pid" 2>/dev/null || echo '?'), restarts $(restarts "$s"))"
    elif [[ " ${FAKES[*]} " == *" $s "* && "${DEV_FAKES:-1}" != "1" ]]; then
      continue
    else echo "$s stopped"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 {start|stop|status}" >&2; exit 2 ;;
esac
