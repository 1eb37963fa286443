-- The insights service's own projection of cases.lifecycle (it never reads the case schema): public
-- fields only, the description and status notes already scrubbed of email addresses and phone numbers.
CREATE TABLE {schema}.cases (
    case_id            uuid PRIMARY KEY,
    service_request_id text NOT NULL,
    service_code       text,
    service_name       text,
    channel            text,
    department         text,
    agency_responsible text,
    district           text,
    status             text NOT NULL DEFAULT 'open',
    workflow_status    text,
    status_notes       text,
    requested_at       timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    closed_at          timestamptz,
    sla_due_at         timestamptz,
    breached           boolean NOT NULL DEFAULT false,
    lat                double precision,
    long               double precision,
    address            text,
    description        text NOT NULL DEFAULT '',
    merged_into        uuid,
    followers          integer NOT NULL DEFAULT 0,
    erased             boolean NOT NULL DEFAULT false
);
CREATE INDEX insights_cases_requested ON {schema}.cases (requested_at);
CREATE INDEX insights_cases_service ON {schema}.cases (service_code, requested_at);
CREATE INDEX insights_cases_department ON {schema}.cases (department, requested_at);
CREATE INDEX insights_cases_district ON {schema}.cases (district, requested_at);
CREATE INDEX insights_cases_closed ON {schema}.cases (closed_at) WHERE closed_at IS NOT NULL;
CREATE INDEX insights_cases_backlog ON {schema}.cases (department, requested_at) WHERE status = 'open';
-- The open-data export reads cases in a stable order (not unique: a case number is the case service's
-- promise, not one this projection enforces, so a surprising event is kept rather than dead-lettered).
CREATE INDEX insights_cases_export ON {schema}.cases (requested_at, service_request_id, case_id);

-- One row per answer (the survey's comment and the reporter's key are not kept: only the figures).
CREATE TABLE {schema}.surveys (
    event_id     uuid PRIMARY KEY,
    case_id      uuid NOT NULL,
    rating       smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    answered_at  timestamptz NOT NULL
);
CREATE INDEX insights_surveys_answered ON {schema}.surveys (answered_at);

-- One row per "this answered my question" (no personal data: the key is a random browser key, not kept).
CREATE TABLE {schema}.deflections (
    event_id     uuid PRIMARY KEY,
    article_id   text NOT NULL,
    service_code text,
    language     text,
    deflected_at timestamptz NOT NULL
);
CREATE INDEX insights_deflections_at ON {schema}.deflections (deflected_at);
