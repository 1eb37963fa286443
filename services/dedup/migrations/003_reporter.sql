-- The "same reporter" lift: the contact key of the reporter who opened each case (`case.routed`
-- `contact_key`, a pseudonym, not contact data). NULL is an unknown reporter: every case projected before
-- this column, and anonymous reports; two unknown reporters are never the same one.
ALTER TABLE {schema}.cases ADD COLUMN reporter text;
