-- Followers of cases (case.followed, issue 10): they hear the public notices the reporters hear, on the
-- channel they chose (email or sms). A survey invitation's delivery is keyed like any other (case, cause,
-- recipient), its cause derived from the case: one per reporter and case.
CREATE TABLE {schema}.followers (
    case_id            uuid NOT NULL,
    service_request_id text NOT NULL,
    contact_key        text NOT NULL,
    channel            text NOT NULL CHECK (channel IN ('email', 'sms')),
    email              text,
    phone              text,
    language           text,
    followed_at        timestamptz NOT NULL,
    erased_at          timestamptz,
    PRIMARY KEY (case_id, contact_key)
);
CREATE INDEX followers_contact_key ON {schema}.followers (contact_key);
