#!/usr/bin/env bash
# Local PostgreSQL + PostGIS cluster of our own (Debian packages, no Docker), for development and CI.
#
#   deploy/local/bin/postgres.sh install   apt-get install postgresql + postgresql-<major>-postgis-3 if missing
#   deploy/local/bin/postgres.sh start     initdb once, start, wait for pg_isready, create db omni311 + postgis
#   deploy/local/bin/postgres.sh stop      pg_ctl stop -m fast
#   deploy/local/bin/postgres.sh status    exit 0 when running and accepting connections
#
# Env: PGPORT (55432), OMNI311_PG_EXTERNAL=1 (a server is provided elsewhere: do nothing),
#      PG_START_TIMEOUT (60).
# Listens on 127.0.0.1:$PGPORT only; user postgres, trust auth (dev only), database omni311:
#   postgresql://postgres@127.0.0.1:55432/omni311
# (role omni311 / password omni311 exists too, as in docker-compose.yml).
# Data, socket and log live in <repo>/var/postgres. PostgreSQL refuses to run as root, so initdb and
# pg_ctl run as the `postgres` user; when that user cannot reach <repo>/var (a clone under a private
# home, say) or the socket path would be too long, var/postgres is a symlink to
# /var/tmp/omni311-pg-<hash of the repo path> instead.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"

PGPORT="${PGPORT:-55432}"
PG_START_TIMEOUT="${PG_START_TIMEOUT:-60}"
DB_NAME="omni311"
PG_LINK="$ROOT/var/postgres"

COMPONENT=postgres
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${OMNI311_PG_EXTERNAL:-}" == "1" ]]; then
  log "OMNI311_PG_EXTERNAL=1: using an external server, nothing to do for '${1:-}'"
  exit 0
fi

[[ "$(id -u)" == "0" ]] || die "run as root (apt-get, runuser -u postgres)"

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

APT_UPDATED=0
apt_update_once() {
  if [[ $APT_UPDATED == 0 ]]; then
    log "install: apt-get update"
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
}

pg_major() {
  # Major version of Debian's `postgresql` metapackage: installed one first, else the candidate.
  local v
  v="$(dpkg-query -W -f='${Status} ${Version}\n' postgresql 2>/dev/null | awk '/install ok installed/ {print $4}')"
  if [[ -z "$v" ]]; then
    v="$(apt-cache policy postgresql 2>/dev/null | awk '/Candidate:/ {print $2}')"
    if [[ -z "$v" || "$v" == "(none)" ]]; then
      apt_update_once
      v="$(apt-cache policy postgresql 2>/dev/null | awk '/Candidate:/ {print $2}')"
    fi
  fi
  [[ -n "$v" && "$v" != "(none)" ]] || die "no 'postgresql' package known to apt"
  v="${v#*:}"    # drop an epoch
  echo "${v%%+*}" # 15+248+deb12u1 -> 15
}

do_install() {
  local t0=$SECONDS major pkgs=() p
  major="$(pg_major)"
  for p in postgresql "postgresql-$major" "postgresql-$major-postgis-3"; do
    pkg_installed "$p" || pkgs+=("$p")
  done
  if ((${#pkgs[@]} == 0)); then
    log "install: postgresql $major + postgis present (skip)"
    return 0
  fi
  log "install: apt-get install ${pkgs[*]} ..."
  mkdir -p "$ROOT/var"
  local APT_LOG="$ROOT/var/postgres-apt.log"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >"$APT_LOG" 2>&1; then
    apt_update_once
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >"$APT_LOG" 2>&1 \
      || { tail -n 30 "$APT_LOG" >&2; die "apt-get install failed"; }
  fi
  log "install: done in $((SECONDS - t0)) s"
}

pg_bin_dir() {
  local major="$1"
  [[ -x "/usr/lib/postgresql/$major/bin/pg_ctl" ]] || die "/usr/lib/postgresql/$major/bin/pg_ctl missing (run install)"
  echo "/usr/lib/postgresql/$major/bin"
}

as_pg() { (cd / && runuser -u postgres -- "$@"); }

PGROOT=""
resolve_pgroot() {
  # Sets PGROOT (the real directory behind var/postgres), creating it on first use.
  mkdir -p "$ROOT/var"
  if [[ -L "$PG_LINK" ]]; then
    PGROOT="$(readlink "$PG_LINK")"
    mkdir -p "$PGROOT"
  elif [[ -d "$PG_LINK" ]]; then
    PGROOT="$PG_LINK"
  else
    chmod o+x "$ROOT/var" 2>/dev/null || true
    local sock_path="$ROOT/var/postgres/run/.s.PGSQL.$PGPORT"
    if as_pg test -x "$ROOT/var" && ((${#sock_path} < 100)); then
      PGROOT="$PG_LINK"
      mkdir -p "$PGROOT"
    else
      PGROOT="/var/tmp/omni311-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
      log "user postgres cannot use $ROOT/var (or the socket path is too long): data in $PGROOT"
      mkdir -p "$PGROOT"
      ln -sfn "$PGROOT" "$PG_LINK"
    fi
  fi
  chown postgres:postgres "$PGROOT"
  chmod 755 "$PGROOT"
  as_pg test -w "$PGROOT" || die "user postgres cannot write $PGROOT (check the permissions of its parents)"
  mkdir -p "$PGROOT/run"
  chown postgres:postgres "$PGROOT/run"
  DATA="$PGROOT/data"
  SOCK_DIR="$PGROOT/run"
  LOG_FILE="$PGROOT/postgres.log"
}

data_major() { [[ -f "$DATA/PG_VERSION" ]] && cat "$DATA/PG_VERSION"; }

is_running() { [[ -f "$DATA/PG_VERSION" ]] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_q() {
  local db="$1"; shift
  "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$db" "$@"
}

init_cluster() {
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  log "start: initdb $DATA"
  rm -rf "$DATA"
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >>"$LOG_FILE.init" 2>&1 \
    || { tail -n 20 "$LOG_FILE.init" >&2; die "initdb failed"; }
  cat >"$DATA/pg_hba.conf" <<'EOF'
# omni311 local development cluster: trust on the local socket and on 127.0.0.1 only (dev only).
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  trust
host    all       all   127.0.0.1/32   trust
EOF
  echo "include_if_exists = 'omni311.conf'" >>"$DATA/postgresql.conf"
  chown postgres:postgres "$DATA/pg_hba.conf" "$DATA/postgresql.conf"
}

write_conf() {
  # Rewritten at every start so PGPORT may change between runs.
  cat >"$DATA/omni311.conf" <<EOF
# Written by deploy/local/bin/postgres.sh at each start.
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$SOCK_DIR'
max_connections = 200
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
  chown postgres:postgres "$DATA/omni311.conf"
}

ensure_db() {
  # Role omni311/omni311 too, so the docker-compose DSN (omni311:omni311) also works here.
  if ! psql_q postgres -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'omni311'" | grep -q 1; then
    psql_q postgres -c "CREATE ROLE omni311 LOGIN SUPERUSER PASSWORD 'omni311'" >/dev/null
  fi
  if ! psql_q postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
    psql_q postgres -c "CREATE DATABASE $DB_NAME" >/dev/null
    log "start: created database $DB_NAME"
  fi
  psql_q "$DB_NAME" -c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS postgis" >/dev/null
  psql_q "$DB_NAME" -tAc "SELECT 1 FROM pg_extension WHERE extname = 'postgis'" | grep -q 1 \
    || die "CREATE EXTENSION postgis failed in $DB_NAME"
}

wait_ready() {
  local deadline=$((SECONDS + PG_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres && return 0
    sleep 0.5
  done
  return 1
}

setup() {
  local major dmajor
  major="$(pg_major)"
  resolve_pgroot
  dmajor="$(data_major || true)"
  if [[ -n "$dmajor" && "$dmajor" != "$major" ]]; then
    log "data dir is PostgreSQL $dmajor, packages are $major: using $dmajor binaries"
    major="$dmajor"
  fi
  BIN="$(pg_bin_dir "$major")"
}

do_start() {
  local t0=$SECONDS
  do_install
  setup
  if is_running; then
    log "start: already running on 127.0.0.1:$PGPORT"
    wait_ready || die "running but not accepting connections on 127.0.0.1:$PGPORT"
    ensure_db
    return 0
  fi
  port_open "$PGPORT" && die "port 127.0.0.1:$PGPORT is already in use by another process"
  touch "$LOG_FILE"; chown postgres:postgres "$LOG_FILE"
  init_cluster
  write_conf
  echo "=== $(date -Is) start" >>"$LOG_FILE"
  if ! as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG_FILE" -w -t "$PG_START_TIMEOUT" start >/dev/null; then
    tail -n 30 "$LOG_FILE" >&2
    die "pg_ctl start failed (see $LOG_FILE)"
  fi
  wait_ready || { tail -n 30 "$LOG_FILE" >&2; die "not ready after ${PG_START_TIMEOUT} s"; }
  ensure_db
  log "start: ready on 127.0.0.1:$PGPORT (db $DB_NAME, postgis) in $((SECONDS - t0)) s"
}

do_stop() {
  local t0=$SECONDS
  setup
  if ! is_running; then
    log "stop: not running"
    return 0
  fi
  if ! as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null; then
    log "stop: fast shutdown timed out, using immediate"
    as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >/dev/null
  fi
  log "stop: stopped in $((SECONDS - t0)) s"
}

do_status() {
  setup
  if ! is_running; then
    echo "postgres: stopped"
    return 1
  fi
  if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d "$DB_NAME"; then
    echo "postgres: running on 127.0.0.1:$PGPORT (PostgreSQL $(cat "$DATA/PG_VERSION"), data $DATA)"
    return 0
  fi
  echo "postgres: running but not accepting connections on 127.0.0.1:$PGPORT"
  return 1
}

component_main "$@"
