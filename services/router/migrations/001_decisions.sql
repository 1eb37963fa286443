-- The router's decision log: every decision with the rule and configuration version behind it.
CREATE TABLE {schema}.decisions (
    case_id        uuid PRIMARY KEY,
    event_id       uuid NOT NULL,
    decided_at     timestamptz NOT NULL,
    service_code   text NOT NULL,
    category_source text NOT NULL,
    queue          text NOT NULL,
    district       text,
    rule_id        text NOT NULL,
    config_version text NOT NULL,
    decision       jsonb NOT NULL
);
CREATE INDEX router_decisions_rule ON {schema}.decisions (rule_id, config_version);
