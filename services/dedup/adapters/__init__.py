"""PostGIS access for the dedup projection."""
