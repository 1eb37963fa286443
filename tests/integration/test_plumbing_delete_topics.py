"""`make reset`'s topic deletion on real Kafka (shared.kafka.delete_topics): the registry's topics and DLQs of
one prefix go, and only they; the next `ensure_topics` makes them again, empty."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.kafka import delete_topics, ensure_topics, topic_partitions
from shared.settings import Settings
from support.infra import KAFKA


async def _topics() -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="omni311-it-delete-topics")
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def test_reset_deletes_the_prefix_topics_only_and_they_come_back_empty(
        settings: Settings, created_prefixes: list[str]) -> None:
    other = settings.model_copy(update={"topic_prefix": f"{settings.topic_prefix}other."})
    created_prefixes.append(other.topic_prefix)
    await ensure_topics(other)
    stranger = f"{settings.topic_prefix}not.in.registry"
    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA, client_id="omni311-it-delete-topics")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name=stranger, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    lifecycle = settings.topic("cases.lifecycle")
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(lifecycle, b"{}", key=b"k")
    finally:
        await producer.stop()

    deleted = await delete_topics(settings)

    assert deleted == sorted(topic_partitions(settings)) and f"{lifecycle}.dlq" in deleted
    left = await _topics()
    assert left.isdisjoint(deleted)
    assert set(topic_partitions(other)) <= left and stranger in left
    assert await delete_topics(settings) == [], "nothing left to delete"
    assert sorted(await ensure_topics(settings)) == deleted
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=None, client_id="omni311-it-delete-topics")
    await consumer.start()
    try:
        parts = [TopicPartition(lifecycle, p) for p in range(topic_partitions(settings)[lifecycle])]
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    assert len(ends) == 6 and set(ends.values()) == {0}, "the new topic is empty"
