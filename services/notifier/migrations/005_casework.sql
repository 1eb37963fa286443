-- Staff casework (issue 9): the workflow status last heard per case and whether its reporters were told
-- of it (a report merged into a case closed without a notice hears nothing late either); reporters found
-- by contact key (a staff reply, the erasure of their personal data).
ALTER TABLE {schema}.case_status
    ADD COLUMN workflow_status text,
    ADD COLUMN notify          boolean NOT NULL DEFAULT true;
CREATE INDEX contacts_contact_key ON {schema}.contacts (contact_key);
-- When a reporter's contact was erased (retention): the row stays, its addresses are gone.
ALTER TABLE {schema}.contacts ADD COLUMN erased_at timestamptz;
CREATE INDEX deliveries_case_recipient ON {schema}.deliveries (case_id, recipient_key);
