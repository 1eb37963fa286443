#!/usr/bin/env bash
# Start or stop every omni311 service as a background process on this machine.
#
#   deploy/local/bin/services.sh start    start case, router, dedup, notifier, intake_web, intake_email, insights, workbench; wait until ready
#   deploy/local/bin/services.sh stop     SIGTERM each (graceful), SIGKILL after 20 s
#   deploy/local/bin/services.sh status   one line per service
#
# Logs: var/run/<service>.log; pids: var/run/<service>.pid. Settings come from OMNI311_* variables.
set -euo pipefail
BIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BIN/../../.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
SERVICES=(case router dedup notifier intake_web intake_email insights workbench)
# The ports come from the one table, shared/settings.py SERVICE_PORTS.
port_of() { "$PY" -c 'import sys; from shared.settings import SERVICE_PORTS; print(SERVICE_PORTS[sys.argv[1]])' "$1"; }
mkdir -p var/run

running() { [[ -f "var/run/$1.pid" ]] && kill -0 "$(cat "var/run/$1.pid")" 2>/dev/null; }

start() {
  for s in "${SERVICES[@]}"; do
    if running "$s"; then echo "$s already running"; continue; fi
    setsid "$PY" -m "services.$s" >>"var/run/$s.log" 2>&1 < /dev/null &
    echo $! > "var/run/$s.pid"
  done
  for s in "${SERVICES[@]}"; do
    local port ok=0
    port="$(port_of "$s")"
    for _ in $(seq 1 120); do
      if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ok=1; break; fi
      if ! running "$s"; then break; fi
      sleep 0.5
    done
    if [[ $ok == 1 ]]; then printf '%-12s ready  http://127.0.0.1:%s\n' "$s" "$port"
    else printf '%-12s FAILED (see var/run/%s.log)\n' "$s" "$s"; tail -n 30 "var/run/$s.log" >&2; exit 1; fi
  done
}

stop() {
  local was=()
  for s in "${SERVICES[@]}"; do
    running "$s" && was+=("$s")
  done
  for s in "${SERVICES[@]}"; do
    if running "$s"; then kill -TERM -- "-$(cat "var/run/$s.pid")" 2>/dev/null || kill -TERM "$(cat "var/run/$s.pid")" || true; fi
  done
  for s in "${SERVICES[@]}"; do
    if ! running "$s"; then
      rm -f "var/run/$s.pid"
      if [[ " ${was[*]} " == *" $s "* ]]; then echo "$s stopped"; else echo "$s not running"; fi
      continue
    fi
    for _ in $(seq 1 40); do running "$s" || break; sleep 0.5; done
    if running "$s"; then kill -KILL -- "-$(cat "var/run/$s.pid")" 2>/dev/null || true; fi
    rm -f "var/run/$s.pid"
    echo "$s stopped"
  done
}

status() {
  local rc=0
  for s in "${SERVICES[@]}"; do
    if running "$s"; then echo "$s running (pid $(cat "var/run/$s.pid"))"; else echo "$s stopped"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 {start|stop|status}" >&2; exit 2 ;;
esac
