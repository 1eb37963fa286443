"""Duplicate detector: finds an open case of the same kind nearby and similar, and says so on dedup.decisions."""
