-- Addresses that bounced (intake.bounce_received from intake_email): nothing more is sent there.
-- Kept apart from opt_outs: a bounce is the mail system's verdict, an opt-out the resident's choice.
CREATE TABLE {schema}.undeliverable (
    recipient_key      text PRIMARY KEY,
    channel            text NOT NULL,
    reason             text NOT NULL,
    status             text,
    bounce_message_id  text NOT NULL,
    bounces            integer NOT NULL DEFAULT 1,
    first_at           timestamptz NOT NULL,
    last_at            timestamptz NOT NULL
);
