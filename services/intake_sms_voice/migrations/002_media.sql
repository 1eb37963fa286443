-- shared.media.MEDIA_TABLE_SQL (copied verbatim: tests/unit/media checks every copy)
-- Media downloaded at intake and cleaned (pictures re-encoded without metadata), served at
-- GET /media/{media_id}. media_id = uuid5(shared.media.store.MEDIA_NAMESPACE, sha256): the same bytes are
-- one row, whichever messages carried them (channel_message_ids); erased with any of those messages.
CREATE TABLE {schema}.media (
    media_id            uuid PRIMARY KEY,
    sha256              text NOT NULL,
    content_type        text NOT NULL,
    filename            text,
    content             bytea NOT NULL,
    size                integer NOT NULL,
    width               integer,
    height              integer,
    channel_message_ids text[] NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX media_channel_message_ids ON {schema}.media USING gin (channel_message_ids);
