"""intake_web's adapters: the shared intake edge (Kafka publisher, case-API client) built for this service."""
