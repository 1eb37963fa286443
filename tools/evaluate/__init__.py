"""Evaluation commands: how well routing, geocoding and duplicate detection do on any city's export."""

NEAR_M = 50.0
"""A placed answer this close to the record's own point (metres) is "within 50 m" (the issue's measure)."""
FAR_M = 200.0
"""A placed answer this close to the record's own point (metres) is "within 200 m"; farther, it is wrong."""
