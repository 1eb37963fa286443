"""Router settings: the common `shared.settings.Settings` (jurisdiction, Kafka, PostgreSQL); the router
reads its rules from the jurisdiction's files and has no setting of its own."""

SERVICE = "router"
