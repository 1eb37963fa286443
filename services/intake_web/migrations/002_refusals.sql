-- What the public routes refused (docs/residents-and-insights.md, "Abuse protection"): one row per minute,
-- client, api_key, route and reason with a count, so a flood adds a row a minute, not a row a request.
-- Written by shared.abuse.RefusalRecorder through adapters/refusals.py (an upsert adding counts), read by
-- staff at GET /staff/refusals. `client` is an address (IPv6: its /64); `api_key` the key's fingerprint
-- (first 12 hex digits of its SHA-256), '' when the request carried none; `route` a route template
-- ("POST /requests.{fmt}"); `reason` a limit (reports_per_client, ...), body_too_large or a spam guard's.
CREATE TABLE {schema}.refusals (
    minute  timestamptz NOT NULL,
    client  text NOT NULL,
    api_key text NOT NULL DEFAULT '',
    route   text NOT NULL,
    reason  text NOT NULL,
    count   bigint NOT NULL CHECK (count > 0),
    last_at timestamptz NOT NULL,
    PRIMARY KEY (minute, client, api_key, route, reason)
);
