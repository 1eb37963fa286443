-- Contact preferences, opt-outs and deliveries: the notifier owns these (docs/architecture.md).
CREATE TABLE {schema}.contacts (
    case_id            uuid PRIMARY KEY,
    service_request_id text NOT NULL,
    contact_key        text NOT NULL,
    channel            text NOT NULL,
    email              text,
    phone              text,
    display_name       text,
    language           text,
    reply_to_message_id text,
    merged_into        uuid
);
CREATE INDEX contacts_merged_into ON {schema}.contacts (merged_into);

CREATE TABLE {schema}.opt_outs (
    recipient_key text PRIMARY KEY,
    channel       text NOT NULL,
    reason        text NOT NULL,
    at            timestamptz NOT NULL
);

-- One row per (case, causing event, recipient): claimed before sending, so a message goes out at most once.
CREATE TABLE {schema}.deliveries (
    id                  bigserial PRIMARY KEY,
    case_id             uuid NOT NULL,
    cause_event_id      uuid NOT NULL,
    recipient_key       text NOT NULL,
    kind                text NOT NULL,
    channel             text NOT NULL,
    status              text NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'suppressed')),
    provider_message_id text,
    reason              text,
    claimed_at          timestamptz NOT NULL,
    finished_at         timestamptz,
    UNIQUE (case_id, cause_event_id, recipient_key)
);
