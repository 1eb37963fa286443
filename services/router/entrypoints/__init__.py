"""Router entry points: the Kafka subscriber."""
