"""Insights entry points: the Kafka subscriptions (`kafka`) and the HTTP routes (`http`)."""
