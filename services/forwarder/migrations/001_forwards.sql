-- One row per case and endpoint: the send (intent, attempts, next attempt), the answer (external id or
-- token) and the last status read from the endpoint. The loops take due rows FOR UPDATE SKIP LOCKED and
-- lease them (next_attempt_at / next_poll_at moved ahead) before any HTTP exchange, so a crash leaves a
-- row due again and nothing is held in memory.
CREATE TABLE {schema}.forwards (
    case_id                     uuid NOT NULL,
    endpoint                    text NOT NULL,
    service_request_id          text NOT NULL,
    jurisdiction_id             text NOT NULL,
    service_code                text NOT NULL,
    external_service_code       text NOT NULL,
    correlation_id              uuid,
    idempotency_key             text NOT NULL,
    -- pending: to send (next_attempt_at); awaiting_token: sent, the endpoint answered a token;
    -- forwarded: the endpoint's id is known (polled); failed: the sends gave up (staff may retry);
    -- refused: the endpoint refused it (a 4xx; staff may retry); closed: the endpoint reported it closed.
    state                       text NOT NULL CHECK (state IN
                                    ('pending', 'awaiting_token', 'forwarded', 'failed', 'refused', 'closed')),
    attempts                    integer NOT NULL DEFAULT 0,
    next_attempt_at             timestamptz,
    last_error                  text,
    token                       text,
    external_service_request_id text,
    service_notice              text,
    forwarded_at                timestamptz,
    status                      text,
    status_notes                text,
    agency_responsible          text,
    updated_datetime            timestamptz,
    next_poll_at                timestamptz,
    poll_failures               integer NOT NULL DEFAULT 0,
    created_at                  timestamptz NOT NULL,
    changed_at                  timestamptz NOT NULL,
    PRIMARY KEY (case_id, endpoint)
);
CREATE INDEX forwards_due_send ON {schema}.forwards (next_attempt_at) WHERE state = 'pending';
CREATE INDEX forwards_due_poll ON {schema}.forwards (endpoint, next_poll_at)
    WHERE state IN ('awaiting_token', 'forwarded');
