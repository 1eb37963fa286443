"""Evaluation commands: how well routing, geocoding and duplicate detection do on any city's export."""
