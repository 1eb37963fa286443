#!/usr/bin/env bash
# `make reset [REPLAY=... | OMNI311_JURISDICTION=...]`: drop a jurisdiction's database so the next
# `make run` starts empty (its topics keep their history; consumer groups resume where they were).
set -euo pipefail
BIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BIN/../../.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
source "$BIN/jurisdiction-env.sh"
"$BIN/services.sh" stop >/dev/null 2>&1 || true
"$PY" -m shared.db.migrate --drop-database
