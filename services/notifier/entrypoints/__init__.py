"""The notifier's entry points: its one Kafka subscription."""
