-- The answers to a case's Open311 attributes (code -> value or list of values), kept from its
-- `case.opened` (the case service's public read does not carry them) to be sent as attribute[code].
CREATE TABLE {schema}.case_attributes (
    case_id     uuid PRIMARY KEY,
    attributes  jsonb NOT NULL,
    recorded_at timestamptz NOT NULL
);
