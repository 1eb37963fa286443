-- The mailbox cursor, every raw message taken from the mailbox, and the media cut from them
-- (intake_email owns its mailbox cursor; every raw message is kept before it is parsed).

-- One row per watched mailbox ("<user>@<host>:<port>/<folder>"): the UIDVALIDITY seen at SELECT and the
-- highest UID ingested under it (RFC 3501 §2.3.1.1). Advanced in the transaction that stores the message.
CREATE TABLE {schema}.mailbox_cursors (
    mailbox     text PRIMARY KEY,
    uidvalidity bigint NOT NULL,
    last_uid    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL
);

-- Every message fetched, as bytes, whatever became of it. `kind`: what the adapter decided
-- (message: published as intake.message_received; bounce: intake.bounce_received per failed recipient;
-- auto_reply, report: kept, nothing published; duplicate: its Message-ID was already ingested;
-- own: sent from one of the city's own addresses (a mail loop); unparseable: read failed, see problems).
CREATE TABLE {schema}.raw_messages (
    id                   bigserial PRIMARY KEY,
    mailbox              text NOT NULL,
    uidvalidity          bigint NOT NULL,
    uid                  bigint NOT NULL,
    raw                  bytea NOT NULL,
    size                 integer NOT NULL,
    sha256               text NOT NULL,
    fetched_at           timestamptz NOT NULL,
    message_id           text,
    kind                 text NOT NULL CHECK (kind IN ('pending', 'message', 'auto_reply', 'bounce', 'report',
                                                       'duplicate', 'own', 'unparseable')),
    reason               text,
    problems             jsonb NOT NULL DEFAULT '[]',
    sender_authenticated text CHECK (sender_authenticated IN ('pass', 'fail', 'none')),
    attachments          jsonb NOT NULL DEFAULT '[]',
    event_ids            uuid[] NOT NULL DEFAULT '{}',
    flagged_at           timestamptz
);
-- Not unique: a server that reuses UIDs under one UIDVALIDITY (after a rebuild) makes the adapter start
-- over from UID 1, and the Message-ID keeps it from publishing twice.
CREATE INDEX raw_messages_uid ON {schema}.raw_messages (mailbox, uidvalidity, uid);
CREATE INDEX raw_messages_message_id ON {schema}.raw_messages (message_id);
CREATE INDEX raw_messages_unflagged ON {schema}.raw_messages (mailbox, uidvalidity) WHERE flagged_at IS NULL;
CREATE INDEX raw_messages_problems ON {schema}.raw_messages (id)
    WHERE kind = 'unparseable' OR problems <> '[]'::jsonb;

-- Images cut from messages with their metadata (EXIF, GPS) removed; served at GET /media/{media_id}.
-- `publishable` is false for an image whose metadata could not be removed: kept, never served.
CREATE TABLE {schema}.media (
    media_id       uuid PRIMARY KEY,
    raw_message_id bigint NOT NULL REFERENCES {schema}.raw_messages,
    filename       text,
    content_type   text NOT NULL,
    content        bytea NOT NULL,
    size           integer NOT NULL,
    publishable    boolean NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX media_raw_message ON {schema}.media (raw_message_id);
