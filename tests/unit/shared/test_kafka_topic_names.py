"""Which topics `make reset` deletes (shared.kafka.delete_topics) and services create (ensure_topics): the
registry's topics and their DLQ twins under the run's OMNI311_TOPIC_PREFIX, derived from the registry."""

from __future__ import annotations

from shared.events import DLQ_SUFFIX, registry
from shared.kafka import topic_partitions
from shared.settings import Settings


def test_every_registry_topic_and_its_dlq_under_the_prefix_and_nothing_else() -> None:
    names = topic_partitions(Settings(topic_prefix="boston."))
    specs = list(registry().topics.values())
    assert len(specs) >= 5
    expected = {f"boston.{t.name}": t.partitions for t in specs} | {f"boston.{t.name}{DLQ_SUFFIX}": 1 for t in specs}
    assert names == expected
    assert "boston.cases.lifecycle" in names and names["boston.cases.lifecycle.dlq"] == 1


def test_another_prefix_names_none_of_the_same_topics() -> None:
    boston = set(topic_partitions(Settings(topic_prefix="boston.")))
    nyc = set(topic_partitions(Settings(topic_prefix="nyc.")))
    assert boston.isdisjoint(nyc)
    assert all(n.startswith("nyc.") for n in nyc)


def test_without_a_prefix_the_names_are_the_registry_names() -> None:
    assert set(topic_partitions(Settings(topic_prefix=""))) == {
        n for t in registry().topics.values() for n in (t.name, t.name + DLQ_SUFFIX)}
