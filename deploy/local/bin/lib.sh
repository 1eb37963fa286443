# shellcheck shell=bash
# Sourced by kafka.sh, mail.sh and postgres.sh: what every local component script shares.
# The sourcing script sets COMPONENT (its log prefix) before sourcing, and defines do_install,
# do_start, do_stop and do_status before calling component_main "$@".

log() { echo "$COMPONENT: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_of PID_FILE PATTERN: prints the pid in PID_FILE when that process runs and its command line
# matches PATTERN (so a recycled pid is never mistaken for ours), else returns 1.
pid_of() {
  local pid
  [[ -f "$1" ]] || return 1
  pid="$(cat "$1" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$2" || return 1
  echo "$pid"
}

# stop_pid_file PID_FILE PATTERN: SIGTERM, wait up to 30 s, then SIGKILL; removes the pid file.
stop_pid_file() {
  local pid t0=$SECONDS
  if ! pid="$(pid_of "$1" "$2")"; then
    rm -f "$1"
    log "stop: not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "stop: still running after 30 s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$1"
  log "stop: stopped (pid $pid) in $((SECONDS - t0)) s"
}

component_main() {
  case "${1:-}" in
    install) do_install ;;
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    restart) do_stop; do_start ;;
    *) echo "usage: $0 {install|start|stop|status|restart}" >&2; exit 2 ;;
  esac
}
