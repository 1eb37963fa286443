"""Dedup adapters: the PostGIS projection's SQL."""
