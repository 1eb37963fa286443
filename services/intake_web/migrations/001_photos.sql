-- The resident portal's own state (intake_web now owns schema `intake_web`): the photos residents upload
-- (already cleaned: EXIF removed, upright, at most 1600 px, JPEG) and the survey invitations answered.

-- One row per uploaded photo, served publicly at /media/{id}.jpg. `bytes` is the JPEG's size.
CREATE TABLE {schema}.photos (
    id         uuid PRIMARY KEY,
    jpeg       bytea NOT NULL,
    width      integer NOT NULL CHECK (width > 0),
    height     integer NOT NULL CHECK (height > 0),
    bytes      integer NOT NULL CHECK (bytes > 0),
    created_at timestamptz NOT NULL
);

-- One row per survey token id (`jti`) answered: a second answer to the same invitation is refused (409).
-- Removed again when the answer could not be published, so the resident can send it again.
CREATE TABLE {schema}.survey_answers (
    jti               text PRIMARY KEY,
    service_request_id text NOT NULL,
    answered_at       timestamptz NOT NULL
);
