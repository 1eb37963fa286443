-- Issue 14: a delivery left `sending` by a crash is found by its owner's silence, not by its age alone.
-- Each notifier process (replica) has an instance id, claims its deliveries under it (`owner`) and beats
-- in `senders` while it lives; the sweeper settles a `sending` row only once its owner stopped beating, so
-- a slow send on a live replica (a batch's sends after its commit, a slow mail server) is never settled
-- under it. Rows claimed before this column existed have no owner: they are settled by age, as before.
ALTER TABLE {schema}.deliveries ADD COLUMN owner uuid;

CREATE TABLE {schema}.senders (
    instance_id uuid PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    beat_at     timestamptz NOT NULL
);
