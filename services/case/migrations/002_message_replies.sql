-- The channel ids each message said it answers (In-Reply-To/References, a call's CallSid for its
-- transcript): a report that arrives after its own reply threads onto the case the reply opened.
ALTER TABLE {schema}.messages ADD COLUMN in_reply_to text[] NOT NULL DEFAULT '{}';
CREATE INDEX messages_in_reply_to ON {schema}.messages USING gin (in_reply_to);
