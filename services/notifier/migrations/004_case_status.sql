-- The last Open311 status the notifier heard of per case: a report merged into a case that was closed
-- before the merge reached us (other partition) still gets the closure notice.
CREATE TABLE {schema}.case_status (
    case_id            uuid PRIMARY KEY,
    service_request_id text NOT NULL,
    status             text NOT NULL,
    status_notes       text,
    event_id           uuid NOT NULL,
    at                 timestamptz NOT NULL
);
