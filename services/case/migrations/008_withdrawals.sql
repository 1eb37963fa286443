-- Messages a resident deleted ("unsent", intake.message_withdrawn; docs/channels.md, "Every message kind
-- kept"), one row per (channel, channel_message_id). A withdrawal of a message already on a case is
-- applied at once (`case_id`, `applied_at` set); one that arrives before its message (a replay, another
-- partition order) waits here, and the message, when it comes, is held without its words. No words are
-- kept here: the contact key is a one-way digest.
CREATE TABLE {schema}.withdrawals (
    channel            text NOT NULL,
    channel_message_id text NOT NULL,
    contact_key        text NOT NULL,
    withdrawn_at       timestamptz NOT NULL,
    event_id           uuid NOT NULL,
    case_id            uuid REFERENCES {schema}.cases,
    applied_at         timestamptz,
    PRIMARY KEY (channel, channel_message_id)
);
