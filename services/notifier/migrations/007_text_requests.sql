-- A request to write a report as text (intake.message_unsupported, issue 12) answers a message that opened
-- no case: its delivery row has no case, and is claimed once per (cause, recipient), the cause derived from
-- the channel and the channel's message id (domain.notices.text_request_cause). Rows with a case keep
-- their (case, cause, recipient) key.
ALTER TABLE {schema}.deliveries ALTER COLUMN case_id DROP NOT NULL;
CREATE UNIQUE INDEX deliveries_without_case ON {schema}.deliveries (cause_event_id, recipient_key)
    WHERE case_id IS NULL;
