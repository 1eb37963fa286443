-- Cases forwarded to another system's Open311 GeoReport v2 endpoint (forwarding.case_forwarded), one row
-- per (case, endpoint): the endpoint's id for the request (null while it answered only a token, filled by
-- the second forwarding.case_forwarded once the token resolves), the code it was sent under, when, and the
-- last status the endpoint reported (forwarding.status_reported). docs/integrations.md, "Open311
-- forwarding". No personal data: the endpoint's notes are on the timeline, which retention redacts.
CREATE TABLE {schema}.external_requests (
    case_id                     uuid NOT NULL REFERENCES {schema}.cases,
    endpoint                    text NOT NULL,
    external_service_request_id text,
    token                       text,
    external_service_code       text,
    forwarded_at                timestamptz,
    last_status                 text CHECK (last_status IN ('open', 'closed')),
    last_agency_responsible     text,
    last_updated_datetime       timestamptz,
    last_reported_at            timestamptz,
    PRIMARY KEY (case_id, endpoint)
);
CREATE INDEX external_requests_external_id ON {schema}.external_requests (endpoint, external_service_request_id);
