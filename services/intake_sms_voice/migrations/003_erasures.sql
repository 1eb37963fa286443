-- Erasure of what intake_sms_voice keeps of a case's personal data (case.personal_data_erased,
-- docs/staff-work.md "Retention"): the media its messages carried (table media, migration 002) are
-- deleted. One row per erasure event handled: an audit trail with a count, no data. The table is
-- intake_social's erasures (shared.media.erasure.MediaErasureRepository writes both).
CREATE TABLE {schema}.erasures (
    event_id           uuid PRIMARY KEY,
    case_id            uuid NOT NULL,
    service_request_id text NOT NULL,
    mode               text NOT NULL CHECK (mode IN ('erase', 'pseudonymise')),
    events             integer NOT NULL,
    erased_at          timestamptz NOT NULL
);
CREATE INDEX erasures_case ON {schema}.erasures (case_id);
