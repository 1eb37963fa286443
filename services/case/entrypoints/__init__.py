"""Case entry points: the Kafka subscriber and the HTTP read API (plus the staff status change)."""
