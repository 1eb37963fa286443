-- Which report used which photo, so a photo can be erased with its case and an unused one swept
-- (docs/residents-and-insights.md, "Photos: kept, used, erased").

-- One row per photo a published report carries: `token` is the report's `channel_message_id` (a portal
-- report's ``web-<uuid>``, an Open311 POST's token), as `case.personal_data_erased` lists it in
-- `channel_message_ids`. A photo with no row here after OMNI311_PHOTO_UNUSED_TTL_S is deleted.
CREATE TABLE {schema}.photo_uses (
    token    text NOT NULL,
    photo_id uuid NOT NULL REFERENCES {schema}.photos (id) ON DELETE CASCADE,
    used_at  timestamptz NOT NULL,
    PRIMARY KEY (token, photo_id)
);
CREATE INDEX photo_uses_photo ON {schema}.photo_uses (photo_id);
CREATE INDEX photos_created ON {schema}.photos (created_at);

-- One row per erasure event handled: how many photos were deleted for which case (an audit trail without
-- the data).
CREATE TABLE {schema}.photo_erasures (
    event_id           uuid PRIMARY KEY,
    case_id            uuid NOT NULL,
    service_request_id text NOT NULL,
    photos             integer NOT NULL,
    erased_at          timestamptz NOT NULL
);
