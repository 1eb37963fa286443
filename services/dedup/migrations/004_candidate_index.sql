-- The candidate query looks for open cases of one category within a radius. On the point alone (GiST on
-- geog) it fetched every case of every category near the point from the heap, then dropped all but those of
-- the category: with 3 million open cases in New York, about 45 rows read for each case routed, for 0.3
-- candidates (make bench, EXPLAIN ANALYZE). Category and point in one GiST index (btree_gist, created by
-- shared.db.migrate with PostGIS), on exactly the rows the query may return, reads those of the category
-- only. The point-only index had no other query and is dropped: one index less to write per case.
CREATE INDEX IF NOT EXISTS dedup_cases_code_geog ON {schema}.cases USING gist (service_code, geog)
    WHERE location_known AND (duplicate_of IS NOT NULL OR open);
DROP INDEX IF EXISTS {schema}.dedup_cases_geog;
