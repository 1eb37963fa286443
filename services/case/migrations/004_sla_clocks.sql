-- SLA clocks (one per case, fired by the durable timer), when a case was closed (for retention) and the
-- record of each case whose personal data was erased. See docs/staff-work.md, "SLA clocks", "Retention".

-- Durations are seconds of the clock's span (business hours of the jurisdiction, or calendar time).
-- routed_due_at is the due time routing gave (a generation's identity); due_at moves with pauses;
-- paused_at is when a paused or stopped clock stopped counting; remaining_s what it had left then
-- (NULL: count it from paused_at to due_at when it resumes).
CREATE TABLE {schema}.sla_clocks (
    case_id          uuid PRIMARY KEY REFERENCES {schema}.cases,
    generation       integer NOT NULL CHECK (generation >= 1),
    clock            text NOT NULL CHECK (clock IN ('business', 'calendar')),
    started_at       timestamptz NOT NULL,
    routed_due_at    timestamptz NOT NULL,
    due_at           timestamptz NOT NULL,
    warn_at          timestamptz,
    total_s          double precision NOT NULL CHECK (total_s >= 0),
    state            text NOT NULL CHECK (state IN ('running', 'paused', 'stopped')),
    paused_at        timestamptz,
    remaining_s      double precision CHECK (remaining_s >= 0),
    warning_fired_at timestamptz,
    breach_fired_at  timestamptz,
    updated_at       timestamptz NOT NULL,
    -- When the timer must look at this clock next (the same rule as domain.sla.SlaClock.next_fire_at).
    next_fire_at     timestamptz GENERATED ALWAYS AS (
        CASE WHEN state <> 'running' THEN NULL
             WHEN warning_fired_at IS NULL AND warn_at IS NOT NULL THEN warn_at
             WHEN breach_fired_at IS NULL THEN due_at
        END) STORED,
    CHECK ((state = 'running') = (paused_at IS NULL))
);
CREATE INDEX sla_clocks_next_fire ON {schema}.sla_clocks (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX sla_clocks_live ON {schema}.sla_clocks (case_id) WHERE state <> 'stopped';

-- The time of the last change of a case to Open311 'closed' (NULL while open): retention counts from it.
-- A trigger keeps it, so every writer of cases.status (handlers, staff commands, merges) is covered.
ALTER TABLE {schema}.cases ADD COLUMN closed_at timestamptz;
UPDATE {schema}.cases SET closed_at = updated_datetime WHERE status = 'closed';
CREATE INDEX cases_closed_at ON {schema}.cases (closed_at) WHERE closed_at IS NOT NULL;

CREATE FUNCTION {schema}.cases_track_closed_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'closed' THEN
        IF TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'closed' THEN
            NEW.closed_at := NEW.updated_datetime;
        END IF;
    ELSE
        NEW.closed_at := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER cases_track_closed_at BEFORE INSERT OR UPDATE OF status ON {schema}.cases
    FOR EACH ROW EXECUTE FUNCTION {schema}.cases_track_closed_at();

-- One row per case whose personal data the retention job erased or pseudonymised: never twice.
CREATE TABLE {schema}.erasures (
    case_id             uuid PRIMARY KEY REFERENCES {schema}.cases,
    erased_at           timestamptz NOT NULL,
    closed_at           timestamptz NOT NULL,
    policy_days         integer NOT NULL,
    mode                text NOT NULL CHECK (mode IN ('erase', 'pseudonymise')),
    contact_keys        text[] NOT NULL DEFAULT '{}',
    channel_message_ids text[] NOT NULL DEFAULT '{}'
);
