-- Conversations on Messenger, Instagram and WhatsApp Cloud (docs/channels.md, "Conversations"): the last
-- report of each contact on each channel, so that their next texts within the window join its case
-- (`shared.intake.conversation.follow_up_of`). One row per (contact_key, channel); a new report moves it.
-- contact_key is the non-reversible key of the sender; report_message_id the mid/wamid that opened the
-- report (what a follow-up names in in_reply_to); last_at when the resident last wrote in it (UTC).
CREATE TABLE {schema}.conversations (
    contact_key         text        NOT NULL,
    channel             text        NOT NULL,
    report_message_id   text        NOT NULL,
    report_service_code text,
    last_at             timestamptz NOT NULL,
    PRIMARY KEY (contact_key, channel)
);
CREATE INDEX conversations_report ON {schema}.conversations (report_message_id);
