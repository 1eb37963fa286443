"""Putting intake events on Kafka: `intake.messages`, keyed by the envelope's subject (the contact key).

The broker is the Runtime's FastStream broker (acks=all, idempotence on); `publish` returns once every
in-sync replica has the event, so a webhook answers only after its report is durable.
"""

from __future__ import annotations

from typing import Protocol

from faststream.kafka import KafkaBroker

from shared.events import Envelope

TOPIC = "intake.messages"


class Publisher(Protocol):
    async def publish(self, envelope: Envelope) -> None:
        """Publish one envelope; raises when the broker did not acknowledge it."""


class KafkaPublisher:
    """`Publisher` on the real broker. `topic` is the real (prefixed) topic name."""

    def __init__(self, broker: KafkaBroker, topic: str) -> None:
        self.broker = broker
        self.topic = topic

    async def publish(self, envelope: Envelope) -> None:
        await self.broker.publish(envelope.to_bytes(), topic=self.topic, key=envelope.subject.encode(),
                                  headers={"content-type": "application/json"})
