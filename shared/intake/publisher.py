"""Publishing intake events: the one way a stateless intake service (web, SMS/voice, social) puts an
envelope on Kafka. The topic comes from the event registry, never from the caller, and the key is the
envelope's subject (the reporter's contact key on `intake.messages`). State-owning intake services
(intake_email) publish through their transactional outbox instead, which takes its topic from the same
registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from faststream.kafka import KafkaBroker

from shared.events import Envelope, registry


class IntakePublisher(Protocol):
    """What an intake service publishes through: one envelope at a time, on the topic the event registry
    names for its event type, keyed by its subject. `KafkaIntakePublisher` in a service, a list in tests."""

    async def publish(self, envelope: Envelope) -> None:
        """Publish one envelope; returns once every in-sync replica has it. Raises when it was not
        acknowledged (`aiokafka.errors.KafkaError`) or the registry does not know the event (`KeyError`)."""


class KafkaIntakePublisher:
    """`IntakePublisher` on a service's broker (`shared.kafka.create_broker`: acks=all, idempotence on).

    `topic_name` maps a registry topic to the real one (`Settings.topic`: the test prefix).
    `on_published(envelope)` is called after each acknowledged publish (metrics).
    """

    def __init__(self, broker: KafkaBroker, topic_name: Callable[[str], str],
                 on_published: Callable[[Envelope], None] | None = None) -> None:
        self.broker = broker
        self.topic_name = topic_name
        self.on_published = on_published

    async def publish(self, envelope: Envelope) -> None:
        """`IntakePublisher.publish`: on the registry's topic for the envelope's event type and schema
        version (renamed by `topic_name`), keyed by its subject, as JSON."""
        topic = registry().spec(envelope.event_type, envelope.schema_version).topic
        await self.broker.publish(envelope.to_bytes(), topic=self.topic_name(topic), key=envelope.subject.encode(),
                                  headers={"content-type": "application/json"})
        if self.on_published is not None:
            self.on_published(envelope)
