#!/usr/bin/env bash
# `make run`: infrastructure, the local fakes of Twilio, Graph and Mastodon, every service (each restarted
# with backoff when it stops on its own), a replay of a real 311 file, the channels' webhook URLs and the
# simulate commands, then keep serving until Ctrl-C.
#
# Each jurisdiction gets its own database (omni311_<id>) and topic prefix (<id>.), so replaying Boston
# after NYC does not mix the two cities. A second run of the same file finds its cases already there
# (the replay is idempotent); `make reset` empties a jurisdiction's database and topics.
#
# One `make run` per checkout: a second one first ends the one still running (SIGTERM: it stops its services
# as on Ctrl-C; var/run/make-run.pid), then stops whatever services this checkout still runs (a
# RUN_FOREGROUND=0 run's, replicas included) and starts its own. Kafka, PostgreSQL and mail stay up.
set -euo pipefail
BIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BIN/../../.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
source "$BIN/jurisdiction-env.sh"
# SCALE=case=2,router=2 runs replicas in their consumer groups (services.sh); a bad value is refused here,
# with one line, before anything starts or stops.
"$PY" "$BIN/scale.py" "${SCALE:-}" >/dev/null || exit 2

TAIL_PID=""
RUN_PID_FILE="var/run/make-run.pid"
# This run started the services now running (a later `make run` takes them over by writing its own pid).
ours() { [[ "$(cat "$RUN_PID_FILE" 2>/dev/null)" == "$$" ]]; }
cleanup() {
  [[ -n "$TAIL_PID" ]] && kill "$TAIL_PID" 2>/dev/null
  # A run that never took over (refused, failed early) or was taken over leaves the services to their owner.
  ours || return 0
  echo; echo "stopping services (Kafka, PostgreSQL and mail stay up; 'make stop' stops them too)"; "$BIN/services.sh" stop
  rm -f "$RUN_PID_FILE"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# GreenMail does not deliver city311+<case>@ to city311@: reply to the base address (threading still
# works by In-Reply-To and the case number in the subject).
export OMNI311_MAIL_REPLY_SUBADDRESS="${OMNI311_MAIL_REPLY_SUBADDRESS:-false}"
# The replay below is a bulk import through the Open311 API from this machine: the per-client and
# per-api_key report limits (docs/residents-and-insights.md, "Abuse protection") are lifted unless set.
export OMNI311_LIMIT_REPORTS_PER_CLIENT="${OMNI311_LIMIT_REPORTS_PER_CLIENT:-1000000/minute}"
export OMNI311_LIMIT_REPORTS_PER_API_KEY="${OMNI311_LIMIT_REPORTS_PER_API_KEY:-1000000/minute}"
export OMNI311_LIMIT_READS_PER_CLIENT="${OMNI311_LIMIT_READS_PER_CLIENT:-1000000/minute}"
"$BIN/infra.sh" up
echo "jurisdiction: $OMNI311_JURISDICTION (database ${OMNI311_PG_DSN##*/}, topic prefix $OMNI311_TOPIC_PREFIX)"
"$PY" -m shared.db.migrate --create-database >/dev/null
# The channel services' development secrets (made once under var/dev-channels/) and the local fakes of
# Twilio, Graph and Mastodon they are pointed at (tools/fakes); a variable already set wins. Never in
# production: there the OMNI311_TWILIO_*, OMNI311_META_* and OMNI311_MASTODON_* settings are your own.
if [[ "${OMNI311_ENVIRONMENT:-development}" == "production" ]]; then
  export DEV_FAKES=0
  echo "OMNI311_ENVIRONMENT=production: no development channel secrets and no fakes of Twilio, Graph or Mastodon"
else
  export DEV_FAKES=1
  DEV_ENV="$("$PY" -m tools.fakes env)"  # a failure stops run.sh here (set -e), unlike inside eval "$(...)"
  eval "$DEV_ENV"
fi
# Take over: end a make run of this checkout still running (a pid reused by another program is left alone)
# and wait until it has stopped its services, then stop any left (RUN_FOREGROUND=0, services.sh start).
mkdir -p var/run
previous="$(cat "$RUN_PID_FILE" 2>/dev/null || true)"
if [[ "$previous" =~ ^[0-9]+$ && "$previous" != "$$" && "$(readlink "/proc/$previous/cwd" 2>/dev/null)" == "$(pwd -P)" ]] \
    && grep -qa 'run\.sh' "/proc/$previous/cmdline" 2>/dev/null; then
  echo "stopping the make run already running (pid $previous) and its services first"
  kill -TERM "$previous" 2>/dev/null || true
  # It acts on the signal once its current step ends (a replay can take minutes): wait a while, then go on.
  for _ in $(seq 1 240); do kill -0 "$previous" 2>/dev/null || break; sleep 0.5; done
fi
echo $$ > "$RUN_PID_FILE"
"$BIN/services.sh" stop | grep -v '^no service was running$' || true
"$BIN/services.sh" start
echo "replaying $REPLAY (mode ${REPLAY_MODE:-structured})"
"$PY" -m tools.replay.cli "$REPLAY" --mode "${REPLAY_MODE:-structured}" ${REPLAY_ARGS:-}

cat <<MSG

omni311 is running (jurisdiction $OMNI311_JURISDICTION):
  resident portal  http://127.0.0.1:8080/
  dashboard        http://127.0.0.1:8088/dashboard   (supervisor or administrator: sign in below)
  open data        http://127.0.0.1:8090/open-data/cases.csv   http://127.0.0.1:8090/open-data/cases.geojson
  Open311 API      http://127.0.0.1:8080/services.json   (API docs: http://127.0.0.1:8080/docs)
  case read API    http://127.0.0.1:8081/cases/requests
  health, metrics  http://127.0.0.1:8080/metrics  (and 8081 case, 8082 router, 8083 dedup, 8084 notifier, 8085 intake_email,
                   8086 intake_sms_voice, 8087 intake_social, 8089 webhooks, 8090 insights, 8094 forwarder)
  integrations     webhooks http://127.0.0.1:8089/admin/subscriptions   forwarder http://127.0.0.1:8094/admin/forwards?service_request_id=<case-number>
                   (administrator token; docs/integrations.md)   AsyncAPI http://127.0.0.1:8081/asyncapi.json
  link contacts    http://127.0.0.1:8080/profile/link
  restarts         a service that stops on its own is restarted (1 s, 2 s, 4 s ... 30 s): var/logs/supervisor.log
  Grafana          deploy/grafana/omni311.json (import it; Prometheus scrapes http://127.0.0.1:8090/metrics)
  mail (GreenMail) smtp 127.0.0.1:3025  imap 127.0.0.1:3143
  replay report    var/replay-report.json
MSG
# Replica i of a service on its port + 100 × (i − 1), in the service's consumer group (its real id, with the
# topic prefix: nyc.case).
"$PY" "$BIN/scale.py" --banner "${SCALE:-}"
cat <<MSG
  staff workbench  http://127.0.0.1:8088/   (development sign-in, one per role, below)
MSG
# One development sign-in per role (deploy/local/dev-users.yaml; tokens signed with var/dev-issuer/):
# open the link in a browser, or use the token with curl against the case API's /staff routes.
"$PY" - <<'PY'
import shlex

from shared.auth import dev_issuer
from shared.settings import Settings

s = Settings()
try:
    users = dev_issuer.dev_users(s.jurisdiction)
except LookupError as exc:
    users = []
    print(f"    no development users: {exc}")
for user in users:
    print(f"    {user.id:<11} {user.name:<34} {s.workbench_base_url}/sign-in?user={user.id}")
if users:
    print("  a token for curl: curl -H \"Authorization: Bearer $(OMNI311_JURISDICTION="
          f"{shlex.quote(s.jurisdiction)} .venv/bin/python -m shared.auth.dev_issuer mint supervisor)\" "
          f"{s.case_api_url}/staff/cases")
PY
echo
if [[ "$DEV_FAKES" == "1" ]]; then "$PY" -m tools.simulate banner; fi
if [[ "${RUN_FOREGROUND:-1}" == "1" ]]; then
  echo "Ctrl-C stops the services; from another shell, 'deploy/local/bin/services.sh stop' stops only the services"
  echo "(pids: var/run/<service>.pid the supervisor, var/run/<service>.child.pid the process) and 'make stop' stops everything."
  # Each restart a supervisor makes, on this terminal too.
  touch var/logs/supervisor.log
  tail -n 0 -F var/logs/supervisor.log 2>/dev/null &
  TAIL_PID=$!
  while "$BIN/services.sh" status >/dev/null; do sleep 2; done
  if ! ours; then echo "another make run took over the services"; exit 0; fi
  if ls var/run/*.pid >/dev/null 2>&1; then echo "a service's supervisor stopped unexpectedly; see var/run/*.log"; exit 1; fi
  echo "services were stopped"
  exit 0
fi
echo "The services keep running in the background; 'deploy/local/bin/services.sh stop' stops only the services, 'make stop' everything."
trap - EXIT
rm -f "$RUN_PID_FILE"
