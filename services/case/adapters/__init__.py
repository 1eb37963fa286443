"""SQL for the case schema."""
