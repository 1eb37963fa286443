-- Residents who follow a case (intake.follow_requested) and the answers to the satisfaction survey
-- (intake.survey_answered). docs/residents-and-insights.md, "Events".

-- A follower's address is kept as a reporter's is: in `reporters` (contact key, pii), erased by the
-- retention job once no case they report or follow is retained.
CREATE TABLE {schema}.followers (
    case_id        uuid NOT NULL REFERENCES {schema}.cases,
    contact_key    text NOT NULL REFERENCES {schema}.reporters,
    notify_channel text NOT NULL CHECK (notify_channel IN ('email', 'sms')),
    language       text,
    followed_at    timestamptz NOT NULL,
    event_id       uuid NOT NULL,
    PRIMARY KEY (case_id, contact_key)
);
CREATE INDEX followers_contact_key ON {schema}.followers (contact_key);

-- One row per survey token (`channel_message_id` is its jti): an answer from a reporter of the case is
-- `accepted` (timeline entry, case.survey_answered); one from anybody else is kept `refused`, announced to
-- no one.
CREATE TABLE {schema}.survey_answers (
    channel_message_id text PRIMARY KEY,
    case_id            uuid NOT NULL REFERENCES {schema}.cases,
    contact_key        text NOT NULL,
    rating             integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment            text NOT NULL DEFAULT '',
    language           text,
    outcome            text NOT NULL CHECK (outcome IN ('accepted', 'refused')),
    reason             text,
    answered_at        timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL,
    event_id           uuid NOT NULL
);
CREATE INDEX survey_answers_case ON {schema}.survey_answers (case_id);
