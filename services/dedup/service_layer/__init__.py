"""Dedup handlers."""
