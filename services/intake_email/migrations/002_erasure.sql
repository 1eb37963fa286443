-- Erasure of the personal data intake_email keeps for a case whose retention ran out
-- (case.personal_data_erased, docs/staff-work.md "Retention").

-- A stored message whose bytes, reason, problems and attachment summary were erased: `raw` is then empty
-- and `erased_at` says when. The row stays (its Message-ID keeps the same mail from being published twice
-- if it is fetched again; its kind, times and event ids hold no personal data).
ALTER TABLE {schema}.raw_messages ADD COLUMN erased_at timestamptz;

-- One row per erasure event handled: what was erased for which case (an audit trail without the data).
CREATE TABLE {schema}.erasures (
    event_id          uuid PRIMARY KEY,
    case_id           uuid NOT NULL,
    service_request_id text NOT NULL,
    mode              text NOT NULL CHECK (mode IN ('erase', 'pseudonymise')),
    messages          integer NOT NULL,
    media             integer NOT NULL,
    erased_at         timestamptz NOT NULL
);
CREATE INDEX erasures_case ON {schema}.erasures (case_id);
