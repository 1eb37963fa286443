-- Deliveries left `sending` by a crash between the claim and the send's record: the sweeper finds them by age.
CREATE INDEX deliveries_sending ON {schema}.deliveries (claimed_at) WHERE status = 'sending';
