-- Staff work on cases: the jurisdiction's workflow status, assignment, what a merge replaced (so an
-- unmerge can restore it), who acted on each timeline entry, and the duplicate suggestions staff review.
ALTER TABLE {schema}.cases
    ADD COLUMN workflow_status       text NOT NULL DEFAULT 'new',
    ADD COLUMN assignee              text,
    ADD COLUMN team                  text,
    ADD COLUMN workflow_before_merge text;

-- Cases opened before the workflow existed: merged ones are duplicates, closed ones closed, routed ones
-- acknowledged (routing is what acknowledges a case), the rest new.
UPDATE {schema}.cases SET workflow_status = CASE
    WHEN merged_into IS NOT NULL THEN 'duplicate'
    WHEN status = 'closed' THEN 'closed'
    WHEN routing IS NOT NULL THEN 'acknowledged'
    ELSE 'new' END;

CREATE INDEX cases_queue ON {schema}.cases (queue, workflow_status);
CREATE INDEX cases_assignee ON {schema}.cases (assignee) WHERE assignee IS NOT NULL;
CREATE INDEX cases_merged_into ON {schema}.cases (merged_into) WHERE merged_into IS NOT NULL;

-- The staff member (token `sub`, or 'system') and the role of each entry, copied out of `detail` for
-- filtering; entries written by events carry neither.
ALTER TABLE {schema}.timeline
    ADD COLUMN actor text,
    ADD COLUMN role  text;

-- Possible duplicates below the auto-merge threshold (`dedup.suggested`), one per event, for staff to
-- accept (merge) or reject.
CREATE TABLE {schema}.merge_suggestions (
    id           uuid PRIMARY KEY,
    case_id      uuid NOT NULL REFERENCES {schema}.cases,
    duplicate_of uuid NOT NULL REFERENCES {schema}.cases,
    score        double precision NOT NULL,
    evidence     jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    reason       text,
    decided_by   text,
    decided_at   timestamptz,
    event_id     uuid NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL
);
CREATE INDEX merge_suggestions_pending ON {schema}.merge_suggestions (status, created_at);
CREATE INDEX merge_suggestions_case ON {schema}.merge_suggestions (case_id);
