-- Messages of a kind we cannot read as a report (docs/channels.md, "Every message kind kept"): the item
-- exactly as Meta delivered it, kept for staff (GET /problems) and answered with a request for text.
-- raw holds the sender's ids and words (personal data): emptied (NULL, erased_at set) by the erasure of
-- a case whose messages or reporter it names. One row per (channel, message_id): Meta's retries are one.
CREATE TABLE {schema}.unsupported_messages (
    id          bigserial   PRIMARY KEY,
    channel     text        NOT NULL,
    message_id  text        NOT NULL,
    contact_key text        NOT NULL,
    kind        text        NOT NULL,
    raw         jsonb,
    received_at timestamptz NOT NULL,
    erased_at   timestamptz,
    UNIQUE (channel, message_id)
);
CREATE INDEX unsupported_messages_received ON {schema}.unsupported_messages (received_at DESC);
CREATE INDEX unsupported_messages_contact ON {schema}.unsupported_messages (contact_key);
