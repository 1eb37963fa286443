-- How the case's point was found (docs/judgement.md, "Places from words"): 'report' (the resident's own
-- point, with the report or in answer to the location question) or 'geocoded' (the router placed the
-- written address with enough confidence and the case adopted its point). NULL: the case has no point.
ALTER TABLE {schema}.cases ADD COLUMN location_source text
    CHECK (location_source IS NULL OR location_source IN ('report', 'geocoded'));
UPDATE {schema}.cases SET location_source = 'report' WHERE lat IS NOT NULL AND long IS NOT NULL;
