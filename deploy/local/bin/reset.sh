#!/usr/bin/env bash
# `make reset [REPLAY=... | OMNI311_JURISDICTION=...]`: stop the services, drop the jurisdiction's database
# and delete its Kafka topics (the registry's topics and their .dlq twins under OMNI311_TOPIC_PREFIX, by
# `python -m shared.kafka delete-topics`), so the next `make run` starts empty: a consumer group, new or
# old, finds no events of cases the dropped database no longer has. Other jurisdictions' topics are kept.
set -euo pipefail
BIN="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BIN/../../.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
source "$BIN/jurisdiction-env.sh"
"$BIN/services.sh" stop >/dev/null 2>&1 || true
"$PY" -m shared.db.migrate --drop-database
echo "deleting topics with prefix '${OMNI311_TOPIC_PREFIX}':"
"$PY" -m shared.kafka delete-topics
