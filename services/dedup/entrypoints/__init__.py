"""Dedup entry points: the Kafka subscriber."""
