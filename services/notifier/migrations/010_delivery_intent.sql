-- Issue 14: what a delivery will send is rendered once, at its claim, and kept in the row until its outcome
-- (`intent`: the email without its Message-ID, or the text and its address; PII, cleared when the row is
-- settled or the case erased), and the moment it is handed to a provider is marked (`attempted_at`). A
-- delivery whose owner died before that moment was certainly not sent: another replica's sweeper sends it,
-- once; one that died after it may have gone out and is settled `failed` (at most once).
ALTER TABLE {schema}.deliveries ADD COLUMN intent jsonb, ADD COLUMN attempted_at timestamptz;
