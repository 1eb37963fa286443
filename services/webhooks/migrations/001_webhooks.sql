-- The webhooks service (docs/integrations.md, section 1): subscriptions, the case facts their filters read,
-- one message per (event, subscription), and the delivery log (one row per attempt).
CREATE TABLE {schema}.subscriptions (
    id                     uuid PRIMARY KEY,
    url                    text NOT NULL,
    event_types            text[] NOT NULL,
    service_codes          text[] NOT NULL DEFAULT '{}',
    departments            text[] NOT NULL DEFAULT '{}',
    personal_data          boolean NOT NULL DEFAULT false,
    description            text NOT NULL DEFAULT '',
    status                 text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'disabled')),
    secret                 text NOT NULL,
    previous_secret        text,
    previous_secret_until  timestamptz,
    consecutive_failures   integer NOT NULL DEFAULT 0,
    last_error             text,
    last_attempt_at        timestamptz,
    last_success_at        timestamptz,
    paused_at              timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL
);

-- What the case events said of each case: the subscriptions' filters read it.
CREATE TABLE {schema}.cases (
    case_id       uuid PRIMARY KEY,
    service_code  text,
    department    text,
    updated_at    timestamptz NOT NULL
);

-- One row per (event, subscription); `id` is the message order a subscription's deliveries follow.
CREATE TABLE {schema}.messages (
    id               bigserial PRIMARY KEY,
    subscription_id  uuid NOT NULL REFERENCES {schema}.subscriptions (id),
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    case_id          uuid,
    occurred_at      timestamptz NOT NULL,
    webhook_id       text NOT NULL,
    body             jsonb NOT NULL,
    personal_data    boolean NOT NULL,
    status           text NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'delivered')),
    attempts         integer NOT NULL DEFAULT 0,
    failures         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    lease_token      uuid,
    lease_until      timestamptz,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX webhooks_messages_waiting ON {schema}.messages (subscription_id, id) WHERE status = 'waiting';
CREATE INDEX webhooks_messages_occurred ON {schema}.messages (subscription_id, occurred_at);
CREATE INDEX webhooks_messages_case ON {schema}.messages (case_id);

-- The delivery log: one row per attempt.
CREATE TABLE {schema}.attempts (
    id               bigserial PRIMARY KEY,
    message_id       bigint NOT NULL REFERENCES {schema}.messages (id) ON DELETE CASCADE,
    subscription_id  uuid NOT NULL,
    attempt          integer NOT NULL,
    attempted_at     timestamptz NOT NULL,
    duration_ms      integer NOT NULL,
    http_status      integer,
    error            text,
    outcome          text NOT NULL CHECK (outcome IN ('delivered', 'failed')),
    next_attempt_at  timestamptz
);
CREATE INDEX webhooks_attempts_log ON {schema}.attempts (subscription_id, id DESC);
CREATE INDEX webhooks_attempts_time ON {schema}.attempts (attempted_at);
