"""Kafka publisher for webhook intake: one envelope, on its registry topic, acknowledged by all in-sync replicas."""

from __future__ import annotations

from faststream.kafka import KafkaBroker

from services.intake_social.service_layer.webhooks import Publish
from shared.events import Envelope, registry
from shared.settings import Settings


def kafka_publisher(broker: KafkaBroker, settings: Settings) -> Publish:
    """A `Publish` on the service's broker (acks=all, idempotence on: `shared.kafka.create_broker`).

    Keyed by the envelope's subject (the contact key on `intake.messages`). Raises `KafkaError` when
    the broker does not acknowledge.
    """

    async def publish(envelope: Envelope) -> None:
        topic = registry().spec(envelope.event_type, envelope.schema_version).topic
        await broker.publish(envelope.to_bytes(), topic=settings.topic(topic), key=envelope.subject.encode(),
                             headers={"content-type": "application/json"})

    return publish
