"""Case settings: the common `shared.settings.Settings` (jurisdiction, Kafka, PostgreSQL); the case service
takes its case-number prefix and time zone from the jurisdiction's files and has no setting of its own."""

SERVICE = "case"
