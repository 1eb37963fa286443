"""Router handlers."""
