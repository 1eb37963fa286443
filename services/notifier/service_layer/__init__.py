"""Notifier handlers."""
