"""Handlers of the SMS/voice webhooks: decide what to publish and what to answer."""
