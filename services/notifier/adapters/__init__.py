"""Mail transport and SQL for the notifier schema."""
