-- Staff review and unmerge: a decision is a merge or a suggestion for review, and a pair of cases staff
-- unmerged is never matched again.
ALTER TABLE {schema}.decisions ADD COLUMN kind text NOT NULL DEFAULT 'merge'
    CHECK (kind IN ('merge', 'suggestion'));

CREATE TABLE {schema}.unmerged_pairs (
    case_a      uuid NOT NULL,
    case_b      uuid NOT NULL,
    unmerged_at timestamptz NOT NULL,
    event_id    uuid NOT NULL,
    PRIMARY KEY (case_a, case_b),
    CHECK (case_a::text < case_b::text)
);
CREATE INDEX dedup_unmerged_b ON {schema}.unmerged_pairs (case_b);
