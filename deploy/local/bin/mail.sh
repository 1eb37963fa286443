#!/usr/bin/env bash
# Local mail server for development and CI: GreenMail standalone (SMTP + IMAP + REST API in one JVM),
# from Maven Central (no Docker).
#
#   deploy/local/bin/mail.sh install   fetch com.icegreen:greenmail-standalone into deploy/local/lib/greenmail
#   deploy/local/bin/mail.sh start     start, wait until SMTP and IMAP greet and the API is ready
#   deploy/local/bin/mail.sh stop      SIGTERM, wait up to 30 s, then SIGKILL
#   deploy/local/bin/mail.sh status    exit 0 when running and greeting
#
# Ports (127.0.0.1 only): SMTP 3025, IMAP 3143 (GreenMail's "test" setup), REST API $MAIL_API_PORT (8025).
# Users (login:password, address): city311:secret (city311@omni311.test),
#                                  resident:secret (resident@resident.test). Override with MAIL_USERS.
# Env: MAIL_API_PORT (8025), MAIL_USERS, MAIL_START_TIMEOUT (60), MAIL_SMTP_PORT (3025), MAIL_IMAP_PORT (3143),
#      OMNI311_MAIL_EXTERNAL=1 (a mail server is provided elsewhere, e.g. another checkout's: do nothing).
# A GreenMail of another checkout already answering on these ports is reused (start says so in one line and
# stop leaves it alone); a port held by something else is an error saying what to set.
# Data is in memory (restarting empties every mailbox); pid and log live in <repo>/var/mail.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"

GREENMAIL_VERSION="2.1.8"
SMTP_PORT="${MAIL_SMTP_PORT:-3025}"
IMAP_PORT="${MAIL_IMAP_PORT:-3143}"
MAIL_API_PORT="${MAIL_API_PORT:-8025}"
MAIL_USERS="${MAIL_USERS:-city311:secret@omni311.test,resident:secret@resident.test}"
MAIL_START_TIMEOUT="${MAIL_START_TIMEOUT:-60}"

LIB_DIR="$ROOT/deploy/local/lib/greenmail"
JAR="$LIB_DIR/greenmail-standalone-$GREENMAIL_VERSION.jar"
VAR_DIR="$ROOT/var/mail"
PID_FILE="$VAR_DIR/greenmail.pid"
LOG_FILE="$VAR_DIR/greenmail.log"

COMPONENT=mail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${OMNI311_MAIL_EXTERNAL:-}" == "1" ]]; then
  log "OMNI311_MAIL_EXTERNAL=1: using an external mail server (SMTP $SMTP_PORT, IMAP $IMAP_PORT), nothing to do for '${1:-}'"
  exit 0
fi

greets() {
  # greets PORT PREFIX: the server on PORT sends a first line starting with PREFIX within 3 s.
  # Then say goodbye properly and read the answer (GreenMail logs a stack trace otherwise).
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r -t 3 line <&3 || exit 1
    [[ "$line" == "$2"* ]] || exit 1
    if [[ "$2" == 220* ]]; then
      printf "QUIT\r\n" >&3
      IFS= read -r -t 3 line <&3 || true
    else
      printf "a1 LOGOUT\r\n" >&3
      while IFS= read -r -t 3 line <&3; do [[ "$line" == a1* ]] && break; done
    fi
    exit 0' _ "$1" "$2" 2>/dev/null
}

api_ready() {
  # GreenMail REST API: GET /api/service/readiness answers 200 when the mail services run.
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "GET /api/service/readiness HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3
    IFS= read -r -t 3 line <&3 || exit 1
    [[ "$line" == "HTTP/1."?" 200"* ]]' _ "$MAIL_API_PORT" 2>/dev/null
}

all_ready() { greets "$SMTP_PORT" "220" && greets "$IMAP_PORT" "* OK" && api_ready; }

do_install() {
  local t0=$SECONDS
  if [[ -s "$JAR" ]]; then
    log "install: $(basename "$JAR") present (skip)"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (Maven 3 required)"
  mkdir -p "$LIB_DIR" "$ROOT/var"
  rm -f "$LIB_DIR"/greenmail-standalone-*.jar
  log "install: fetching com.icegreen:greenmail-standalone:$GREENMAIL_VERSION from Maven Central ..."
  # Run outside the repo so no project pom is picked up.
  if ! (cd "$LIB_DIR" && mvn -q -B dependency:copy \
        -Dartifact="com.icegreen:greenmail-standalone:$GREENMAIL_VERSION" \
        -DoutputDirectory="$LIB_DIR") >"$ROOT/var/mail-mvn.log" 2>&1; then
    cat "$ROOT/var/mail-mvn.log" >&2
    die "maven could not fetch greenmail-standalone"
  fi
  rm -f "$ROOT/var/mail-mvn.log"
  [[ -s "$JAR" ]] || die "$JAR missing after mvn"
  log "install: done in $((SECONDS - t0)) s"
}

do_start() {
  local t0=$SECONDS pid
  if pid="$(running_pid)"; then
    log "start: already running (pid $pid)"
    return 0
  fi
  if all_ready; then
    # Another checkout's GreenMail (or one started by hand): use it rather than fail.
    log "start: reusing the mail server already answering on SMTP $SMTP_PORT, IMAP $IMAP_PORT, API $MAIL_API_PORT (not started by this checkout; set OMNI311_MAIL_EXTERNAL=1 to say so)"
    return 0
  fi
  for p in "$SMTP_PORT" "$IMAP_PORT" "$MAIL_API_PORT"; do
    port_open "$p" && die "port 127.0.0.1:$p is held by a process that is not a GreenMail of ours: stop it, or set OMNI311_MAIL_EXTERNAL=1 (with OMNI311_SMTP_PORT and OMNI311_IMAP_PORT pointing at your mail server)"
  done
  do_install
  command -v java >/dev/null || die "java not found (Java 11+ required)"
  mkdir -p "$VAR_DIR"
  rm -f "$PID_FILE"
  log "start: launching GreenMail $GREENMAIL_VERSION (SMTP $SMTP_PORT, IMAP $IMAP_PORT, API $MAIL_API_PORT)"
  echo "=== $(date -Is) start" >>"$LOG_FILE"
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    java -Xms32m -Xmx256m -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dgreenmail.setup.test.smtp -Dgreenmail.setup.test.imap \
    -Dgreenmail.hostname=127.0.0.1 \
    -Dgreenmail.users="$MAIL_USERS" \
    -Dgreenmail.api.hostname=127.0.0.1 -Dgreenmail.api.port="$MAIL_API_PORT" \
    -jar "$JAR" </dev/null >>"$LOG_FILE" 2>&1 &
  local deadline=$((SECONDS + MAIL_START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if [[ -s "$PID_FILE" ]] && ! running_pid >/dev/null; then
      tail -n 30 "$LOG_FILE" >&2 || true
      die "GreenMail exited during startup (see $LOG_FILE)"
    fi
    if all_ready; then
      log "start: ready (pid $(cat "$PID_FILE")) in $((SECONDS - t0)) s"
      return 0
    fi
    sleep 0.5
  done
  tail -n 30 "$LOG_FILE" >&2 || true
  die "GreenMail not ready after ${MAIL_START_TIMEOUT} s (see $LOG_FILE)"
}

running_pid() { pid_of "$PID_FILE" 'greenmail-standalone'; }

do_stop() { stop_pid_file "$PID_FILE" 'greenmail-standalone'; }

do_status() {
  local pid
  if ! pid="$(running_pid)"; then
    if all_ready; then
      echo "mail: a mail server not started by this checkout answers (SMTP 127.0.0.1:$SMTP_PORT, IMAP 127.0.0.1:$IMAP_PORT)"
      return 0
    fi
    echo "mail: stopped"
    return 1
  fi
  if all_ready; then
    echo "mail: running pid $pid (SMTP 127.0.0.1:$SMTP_PORT, IMAP 127.0.0.1:$IMAP_PORT, API http://127.0.0.1:$MAIL_API_PORT)"
    return 0
  fi
  echo "mail: pid $pid alive but SMTP/IMAP/API not answering"
  return 1
}

component_main "$@"
