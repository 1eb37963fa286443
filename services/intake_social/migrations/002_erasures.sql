-- Erasure of what intake_social keeps of a case's personal data (case.personal_data_erased,
-- docs/staff-work.md "Retention"). It stores no message itself: the only copies are the outbox rows of
-- Mastodon mentions (handle, text), whose payloads the erasure empties once published.
-- One row per erasure event handled: an audit trail with counts, no data.
CREATE TABLE {schema}.erasures (
    event_id           uuid PRIMARY KEY,
    case_id            uuid NOT NULL,
    service_request_id text NOT NULL,
    mode               text NOT NULL CHECK (mode IN ('erase', 'pseudonymise')),
    events             integer NOT NULL,
    erased_at          timestamptz NOT NULL
);
CREATE INDEX erasures_case ON {schema}.erasures (case_id);
