#!/usr/bin/env bash
# Local infrastructure for omni311 tests and development: Kafka, PostgreSQL + PostGIS, GreenMail.
#
#   deploy/local/bin/infra.sh up       install (if needed) and start all three, in order
#   deploy/local/bin/infra.sh down     stop all three
#   deploy/local/bin/infra.sh status   one line per component; exit 1 if any is not up
#   deploy/local/bin/infra.sh env      `export` lines the services need beyond the defaults (a three-broker
#                                      Kafka's bootstrap and replication factor; kafka.sh env), for eval
#
# KAFKA_BROKERS=3 (`make infra-up KAFKA_BROKERS=3`) starts a three-broker Kafka instead of one (kafka.sh);
# unset, `up` and `status` keep to whichever this checkout runs, and `down` stops either.
# One line per component; on failure, exits non-zero after printing the tail of that component's log.
# Endpoints (all on 127.0.0.1):
#   OMNI311_KAFKA_BOOTSTRAP=127.0.0.1:9092 (three brokers: 127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096
#   and OMNI311_KAFKA_REPLICATION_FACTOR=3, which services.sh takes from `infra.sh env`)
#   OMNI311_PG_DSN=postgresql://postgres@127.0.0.1:55432/omni311
#   OMNI311_SMTP_HOST=127.0.0.1 OMNI311_SMTP_PORT=3025 OMNI311_IMAP_HOST=127.0.0.1 OMNI311_IMAP_PORT=3143
# See kafka.sh, postgres.sh and mail.sh for their own settings (KAFKA_PORT, PGPORT, OMNI311_PG_EXTERNAL,
# OMNI311_KAFKA_EXTERNAL, OMNI311_MAIL_EXTERNAL...). A Kafka broker or GreenMail of another checkout already
# answering on its port is reused (its start line says so); a port held by anything else stops `up` with
# one line saying what to set.
set -euo pipefail

BIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BIN/../../.." && pwd)"
cd "$ROOT"
mkdir -p var

COMPONENTS=(kafka postgres mail)

component_logs() {
  case "$1" in
    kafka)
      if [[ "$("$BIN/kafka.sh" bootstrap 2>/dev/null)" == *,* ]]; then echo var/kafka-cluster/node*/kafka.log
      else echo "var/kafka/kafka.log var/kafka/logs/server.log"; fi ;;
    postgres) echo "var/postgres/postgres.log var/postgres/postgres.log.init var/postgres-apt.log" ;;
    mail) echo "var/mail/greenmail.log var/mail-mvn.log" ;;
  esac
}

describe() {
  case "$1" in
    kafka)
      if [[ "${OMNI311_KAFKA_EXTERNAL:-}" == "1" ]]; then echo "external (OMNI311_KAFKA_EXTERNAL=1)"
      else
        local b
        b="$("$BIN/kafka.sh" bootstrap)"
        if [[ "$b" == *,* ]]; then echo "$b (3 brokers, replication factor 3, min ISR 2)"; else echo "$b"; fi
      fi ;;
    postgres)
      if [[ "${OMNI311_PG_EXTERNAL:-}" == "1" ]]; then echo "external (OMNI311_PG_EXTERNAL=1)"
      else echo "postgresql://postgres@127.0.0.1:${PGPORT:-55432}/omni311"; fi ;;
    mail)
      if [[ "${OMNI311_MAIL_EXTERNAL:-}" == "1" ]]; then echo "external (OMNI311_MAIL_EXTERNAL=1)"
      else echo "smtp 127.0.0.1:${MAIL_SMTP_PORT:-3025} imap 127.0.0.1:${MAIL_IMAP_PORT:-3143} api 127.0.0.1:${MAIL_API_PORT:-8025}"; fi ;;
  esac
}

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

fail() {
  # fail COMPONENT ACTION OUTPUT_FILE
  local c="$1" f
  printf '%-9s FAILED (%s)\n' "$c" "$2"
  echo "---- $c output" >&2
  tail -n 20 "$3" >&2 || true
  for f in $(component_logs "$c"); do
    if [[ -s "$f" ]]; then
      echo "---- tail of $f" >&2
      tail -n 30 "$f" >&2
    fi
  done
  exit 1
}

up() {
  local c t0 out
  for c in "${COMPONENTS[@]}"; do
    out="var/infra-$c.out"
    t0="$(now)"
    "$BIN/$c.sh" install >"$out" 2>&1 || fail "$c" install "$out"
    "$BIN/$c.sh" start >>"$out" 2>&1 || fail "$c" start "$out"
    printf '%-9s up      %s (%ss)\n' "$c" "$(describe "$c")" "$(elapsed "$t0")"
    # A reused server of another checkout (kafka.sh, mail.sh): say so on the terminal too.
    grep -h "start: reusing" "$out" | sed "s/^$c: start: /          /" || true
  done
}

down() {
  local c t0 out rc=0
  for c in "${COMPONENTS[@]}"; do
    out="var/infra-$c.out"
    t0="$(now)"
    if "$BIN/$c.sh" stop >"$out" 2>&1; then
      printf '%-9s down    (%ss)\n' "$c" "$(elapsed "$t0")"
    else
      printf '%-9s FAILED (stop)\n' "$c"
      tail -n 20 "$out" >&2
      rc=1
    fi
  done
  return $rc
}

status() {
  local c rc=0 line
  for c in "${COMPONENTS[@]}"; do
    if line="$("$BIN/$c.sh" status 2>/dev/null)"; then
      printf '%-9s up      %s\n' "$c" "$(describe "$c")"
    else
      printf '%-9s DOWN    %s\n' "$c" "${line#*: }"
      rc=1
    fi
  done
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) "$BIN/kafka.sh" env ;;
  *) echo "usage: $0 {up|down|status|env}" >&2; exit 2 ;;
esac
