-- One resident profile across channels (issue 13, docs/integrations.md section 3): a person's contact keys
-- linked, with a preferred channel and language the notices follow. Profiles are a person's, not a case's:
-- the retention of a case (case.personal_data_erased) leaves them; staff unlink on request.
CREATE TABLE {schema}.profiles (
    profile_id        uuid PRIMARY KEY,
    preferred_channel text CHECK (preferred_channel IN ('email', 'sms')),
    language          text CHECK (language IN ('en', 'fr')),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
-- One row per linked contact key; a key belongs to at most one profile. `address` is the email, the phone
-- in E.164 or the platform id: the only copy of it outside the contacts of cases.
CREATE TABLE {schema}.profile_contacts (
    contact_key text PRIMARY KEY,
    profile_id  uuid NOT NULL REFERENCES {schema}.profiles (profile_id) ON DELETE CASCADE,
    kind        text NOT NULL,
    address     text NOT NULL,
    linked_by   text NOT NULL,
    linked_at   timestamptz NOT NULL
);
CREATE INDEX profile_contacts_profile ON {schema}.profile_contacts (profile_id);
-- A resident's request to link an email address and a phone number: one code sent to each, kept only as
-- HMAC-SHA256 under the notifier's profile code secret; a few tries within a short validity.
CREATE TABLE {schema}.link_requests (
    link_id           uuid PRIMARY KEY,
    email             text NOT NULL,
    phone             text NOT NULL,
    email_key         text NOT NULL,
    phone_key         text NOT NULL,
    preferred_channel text CHECK (preferred_channel IN ('email', 'sms')),
    language          text NOT NULL CHECK (language IN ('en', 'fr')),
    email_code_hash   text NOT NULL,
    sms_code_hash     text NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    email_status      text NOT NULL DEFAULT 'sending' CHECK (email_status IN ('sending', 'sent', 'failed')),
    sms_status        text NOT NULL DEFAULT 'sending' CHECK (sms_status IN ('sending', 'sent', 'failed')),
    send_error        text,
    confirmed_at      timestamptz,
    profile_id        uuid
);
CREATE INDEX link_requests_email_key ON {schema}.link_requests (email_key, created_at);
CREATE INDEX link_requests_phone_key ON {schema}.link_requests (phone_key, created_at);
