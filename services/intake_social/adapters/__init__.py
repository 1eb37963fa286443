"""Adapters of social intake: Kafka publisher, PostgreSQL cursor store, Mastodon.py source."""
