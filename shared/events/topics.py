"""The Kafka topics of omni311, each declared once: name, partition count, key field and purpose.

Every topic also has a dead-letter topic `<name>.dlq` (one partition), made by `shared.kafka.ensure_topics`.
Events name their topic in their declaration (`shared.events.declaration.event`), so an event's key field
is always its topic's: every event on a topic is keyed alike, or per-reporter and per-case order is lost.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic: name, partition count and the payload field used as the message key."""

    name: str
    partitions: int
    key: str
    description: str


INTAKE_MESSAGES = TopicSpec(
    name="intake.messages", partitions=6, key="contact_key",
    description="every contact from a resident, on any channel, normalized",
)
CASES_LIFECYCLE = TopicSpec(
    name="cases.lifecycle", partitions=6, key="case_id",
    description="what happened to cases (owned by the case service)",
)
ROUTING_DECISIONS = TopicSpec(
    name="routing.decisions", partitions=6, key="case_id",
    description="category, district, queue, priority and SLA decided by the router",
)
DEDUP_DECISIONS = TopicSpec(
    name="dedup.decisions", partitions=6, key="case_id",
    description="likely duplicates found by the duplicate detector",
)
NOTIFICATIONS_OUTCOMES = TopicSpec(
    name="notifications.outcomes", partitions=6, key="case_id",
    description="what the notifier sent, failed or suppressed",
)

FORWARDING_OUTCOMES = TopicSpec(
    name="forwarding.outcomes", partitions=6, key="case_id",
    description="cases sent to other systems' Open311 endpoints, failures, and the statuses they report back",
)

TOPICS: tuple[TopicSpec, ...] = (
    INTAKE_MESSAGES, CASES_LIFECYCLE, ROUTING_DECISIONS, DEDUP_DECISIONS, NOTIFICATIONS_OUTCOMES, FORWARDING_OUTCOMES,
)
