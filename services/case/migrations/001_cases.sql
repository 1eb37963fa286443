-- Cases, their messages, reporters and timeline: the case service alone owns and writes these.
CREATE SEQUENCE IF NOT EXISTS {schema}.case_number_seq;

CREATE TABLE {schema}.reporters (
    contact_key text PRIMARY KEY,
    channel     text NOT NULL,
    pii         jsonb NOT NULL DEFAULT '{}',
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);

CREATE TABLE {schema}.cases (
    case_id            uuid PRIMARY KEY,
    service_request_id text NOT NULL UNIQUE,
    jurisdiction_id    text NOT NULL,
    status             text NOT NULL CHECK (status IN ('open', 'closed')),
    status_notes       text,
    channel            text NOT NULL,
    contact_key        text NOT NULL REFERENCES {schema}.reporters,
    service_code       text,
    service_name       text,
    description        text NOT NULL DEFAULT '',
    address            text,
    zipcode            text,
    lat                double precision,
    long               double precision,
    media_url          text[] NOT NULL DEFAULT '{}',
    language           text,
    agency_responsible text,
    queue              text,
    priority           integer,
    district           text,
    sla_due_at         timestamptz,
    routing            jsonb,
    merged_into        uuid REFERENCES {schema}.cases,
    correlation_id     uuid NOT NULL,
    requested_datetime timestamptz NOT NULL,
    opened_at          timestamptz NOT NULL,
    updated_datetime   timestamptz NOT NULL
);
CREATE INDEX cases_service_code ON {schema}.cases (service_code, status);
CREATE INDEX cases_requested ON {schema}.cases (requested_datetime);
CREATE INDEX cases_contact ON {schema}.cases (contact_key);

CREATE TABLE {schema}.messages (
    message_id         uuid PRIMARY KEY,
    case_id            uuid NOT NULL REFERENCES {schema}.cases,
    channel            text NOT NULL,
    channel_message_id text NOT NULL,
    event_id           uuid NOT NULL,
    description        text NOT NULL DEFAULT '',
    media_url          text[] NOT NULL DEFAULT '{}',
    received_at        timestamptz NOT NULL,
    UNIQUE (channel, channel_message_id)
);
CREATE INDEX messages_case ON {schema}.messages (case_id);

-- Message ids of what we sent (e.g. our acknowledgement's Message-ID): a reply to one threads here.
CREATE TABLE {schema}.outbound_messages (
    provider_message_id text PRIMARY KEY,
    case_id             uuid NOT NULL REFERENCES {schema}.cases
);

CREATE TABLE {schema}.timeline (
    id       bigserial PRIMARY KEY,
    case_id  uuid NOT NULL REFERENCES {schema}.cases,
    at       timestamptz NOT NULL,
    kind     text NOT NULL,
    event_id uuid,
    detail   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_case ON {schema}.timeline (case_id, id);
