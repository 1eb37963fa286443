#!/usr/bin/env bash
# `make run`: infrastructure, every service, a replay of a real 311 file, then keep serving until Ctrl-C.
set -euo pipefail
BIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BIN/../../.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"

DEFAULT_NYC="$ROOT/../shared/data/311_records/nyc311_2011_sample_1000.csv"
if [[ -z "${REPLAY:-}" ]]; then
  if [[ -f "$DEFAULT_NYC" ]]; then REPLAY="$DEFAULT_NYC"; export OMNI311_JURISDICTION="${OMNI311_JURISDICTION:-nyc}"
  else REPLAY="$ROOT/jurisdictions/demo/replay/requests.json"; export OMNI311_JURISDICTION="${OMNI311_JURISDICTION:-demo}"; fi
fi
if [[ -z "${OMNI311_JURISDICTION:-}" ]]; then
  case "$(basename "$REPLAY")" in
    nyc*) OMNI311_JURISDICTION=nyc ;;
    *boston*) OMNI311_JURISDICTION=boston ;;
    *) OMNI311_JURISDICTION=demo ;;
  esac
  export OMNI311_JURISDICTION
fi

cleanup() { echo; echo "stopping services (infrastructure stays up; 'make stop' stops it)"; "$BIN/services.sh" stop; }
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN/infra.sh" up
echo "jurisdiction: $OMNI311_JURISDICTION"
"$BIN/services.sh" stop >/dev/null 2>&1 || true
"$BIN/services.sh" start
echo "replaying $REPLAY (mode ${REPLAY_MODE:-structured})"
"$PY" -m tools.replay.cli "$REPLAY" --mode "${REPLAY_MODE:-structured}" ${REPLAY_ARGS:-}

cat <<MSG

omni311 is running (jurisdiction $OMNI311_JURISDICTION):
  Open311 API          http://127.0.0.1:8080/services.json   (docs: http://127.0.0.1:8080/docs)
  case read API        http://127.0.0.1:8081/cases/requests
  metrics              http://127.0.0.1:808[0-4]/metrics
  mail (GreenMail)     smtp 127.0.0.1:3025  imap 127.0.0.1:3143
  replay report        var/replay-report.json
Ctrl-C stops the services.
MSG
if [[ "${RUN_FOREGROUND:-1}" == "1" ]]; then
  while "$BIN/services.sh" status >/dev/null; do sleep 2; done
  echo "a service stopped; see var/run/*.log"
  exit 1
fi
trap - EXIT
