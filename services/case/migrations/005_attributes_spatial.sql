-- The answers to the service's Open311 attributes (code -> value, or list of values), kept on the case,
-- and the case's point for the spatial filters of GET /cases/requests (docs/residents-and-insights.md):
-- a WGS84 point generated from lat/long (NULL without both), indexed as geometry for
-- ST_Intersects(point, ST_MakeEnvelope(w, s, e, n, 4326)) and as geography for
-- ST_DWithin(point::geography, centre::geography, metres). PostGIS lives in public (shared.db.migrate).
ALTER TABLE {schema}.cases ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}';
ALTER TABLE {schema}.cases ADD COLUMN point geometry(Point, 4326) GENERATED ALWAYS AS (
    CASE WHEN lat IS NOT NULL AND long IS NOT NULL THEN ST_SetSRID(ST_MakePoint(long, lat), 4326) END
) STORED;
CREATE INDEX cases_point ON {schema}.cases USING gist (point);
CREATE INDEX cases_point_geography ON {schema}.cases USING gist ((point::geography));
