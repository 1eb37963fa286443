# Sourced by run.sh and reset.sh: choose the replay file, the jurisdiction, its database and topic prefix.
DEFAULT_NYC="$ROOT/../shared/data/311_records/nyc311_2011_sample_1000.csv"
if [[ -z "${REPLAY:-}" ]]; then
  if [[ -f "$DEFAULT_NYC" ]]; then REPLAY="$DEFAULT_NYC"; else REPLAY="$ROOT/jurisdictions/demo/replay/requests.json"; fi
fi
REPLAY="$(realpath -m "$REPLAY")"
if [[ -z "${OMNI311_JURISDICTION:-}" ]]; then
  case "$(basename "$REPLAY")" in
    nyc*) OMNI311_JURISDICTION=nyc ;;
    *boston*) OMNI311_JURISDICTION=boston ;;
    *) OMNI311_JURISDICTION=demo ;;
  esac
fi
export OMNI311_JURISDICTION
# OMNI311_JURISDICTION is an id or a path (a folder or its jurisdiction.yaml): the database and the topic
# prefix are named by the id, which for a path is the YAML's own `id:` (shared.jurisdiction finds the file).
JURISDICTION_ID="$OMNI311_JURISDICTION"
if [[ "$JURISDICTION_ID" == */* || "$JURISDICTION_ID" == *.yaml || "$JURISDICTION_ID" == *.yml || -d "$JURISDICTION_ID" ]]; then
  JURISDICTION_ID="$("${PY:-${PYTHON:-$ROOT/.venv/bin/python}}" -c 'import sys, yaml
from shared.jurisdiction import JurisdictionConfigError, jurisdiction_path
try:
    print(yaml.safe_load(jurisdiction_path(sys.argv[1]).read_text(encoding="utf-8"))["id"])
except (JurisdictionConfigError, yaml.YAMLError, TypeError, KeyError) as exc:
    sys.exit(f"OMNI311_JURISDICTION={sys.argv[1]}: no jurisdiction id there ({exc!r})")' "$OMNI311_JURISDICTION")"
fi
export OMNI311_PG_DSN="${OMNI311_PG_DSN:-postgresql://postgres@127.0.0.1:55432/omni311_${JURISDICTION_ID}}"
export OMNI311_TOPIC_PREFIX="${OMNI311_TOPIC_PREFIX-${JURISDICTION_ID}.}"
