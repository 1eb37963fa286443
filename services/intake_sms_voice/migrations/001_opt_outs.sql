-- Each number's opt-out state (docs/channels.md, "Opt-outs and pending questions"): STOP, START and a
-- carrier's error 21610 write it; the webhook answers an opted-out number with empty TwiML. Keyed by the
-- contact key (a hash of the E.164 number), never the number itself.
CREATE TABLE {schema}.opt_outs (
    contact_key text        PRIMARY KEY,
    opted_out   boolean     NOT NULL,
    changed_at  timestamptz NOT NULL
);
