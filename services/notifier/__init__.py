"""Notifier: tells reporters on their own channel that their case was received, merged or closed."""
