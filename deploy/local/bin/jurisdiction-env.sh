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
export OMNI311_PG_DSN="${OMNI311_PG_DSN:-postgresql://postgres@127.0.0.1:55432/omni311_${OMNI311_JURISDICTION}}"
export OMNI311_TOPIC_PREFIX="${OMNI311_TOPIC_PREFIX-${OMNI311_JURISDICTION}.}"
