-- The dedup service's own projection of cases (it never reads the case schema).
CREATE TABLE {schema}.cases (
    case_id            uuid PRIMARY KEY,
    service_request_id text NOT NULL,
    service_code       text NOT NULL,
    description        text NOT NULL DEFAULT '',
    geog               geography(Point, 4326),
    location_known     boolean NOT NULL,
    requested_datetime timestamptz NOT NULL,
    open               boolean NOT NULL DEFAULT true,
    duplicate_of       uuid
);
CREATE INDEX dedup_cases_geog ON {schema}.cases USING gist (geog);
CREATE INDEX dedup_cases_code ON {schema}.cases (service_code, requested_datetime) WHERE open;

CREATE TABLE {schema}.decisions (
    case_id      uuid PRIMARY KEY,
    duplicate_of uuid NOT NULL,
    score        double precision NOT NULL,
    distance_m   double precision NOT NULL,
    text_similarity double precision NOT NULL,
    decided_at   timestamptz NOT NULL,
    event_id     uuid NOT NULL
);
