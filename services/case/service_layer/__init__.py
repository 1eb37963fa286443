"""Handlers of the case service: one per command, each one transaction with its inbox claim and outbox rows."""
