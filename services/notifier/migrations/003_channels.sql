-- Channels beyond email (issues 4 and 5): how to answer a resident on the channel they used.
ALTER TABLE {schema}.contacts
    ADD COLUMN handle            text,         -- Messenger PSID, Instagram IGSID, WhatsApp id, @user@server
    ADD COLUMN last_inbound_at   timestamptz,  -- the resident's last message: start of Meta's reply window
    ADD COLUMN channel_message_id text;        -- the resident's message (a Mastodon reply's in_reply_to_id)
-- What the provider later said of a message we sent (status callbacks), by its id.
ALTER TABLE {schema}.deliveries ADD COLUMN provider_status text;
CREATE INDEX deliveries_provider_message_id ON {schema}.deliveries (provider_message_id);
-- opt_outs gains who asked and how (keyword text or carrier error 21610).
ALTER TABLE {schema}.opt_outs ADD COLUMN source text, ADD COLUMN message_id text;
