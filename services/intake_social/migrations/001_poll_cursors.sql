-- Poll cursors of intake_social (the only state it owns), e.g. the last Mastodon
-- notification id read for the city's account. Written in the same transaction as the outbox rows.
CREATE TABLE {schema}.poll_cursors (
    source     text        PRIMARY KEY,
    cursor     text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
