"""How services create their topics at start-up (shared.kafka.ensure_topics), against a fake admin client: the
missing ones in one CreateTopics request, "already exists" from a racing service taken as done, any other
refusal raised."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError

import shared.kafka as kafka
from shared.kafka import ensure_topics, topic_partitions
from shared.settings import Settings


class FakeAdmin:
    """Records each CreateTopics request; answers each topic with the error code in `codes` (0 otherwise)."""

    def __init__(self, existing: set[str], codes: dict[str, int]) -> None:
        self.existing, self.codes = existing, codes
        self.requests: list[list[Any]] = []
        self.closed = False

    async def start(self) -> None: ...

    async def close(self) -> None:
        self.closed = True

    async def list_topics(self) -> list[str]:
        return sorted(self.existing)

    async def create_topics(self, new_topics: list[Any]) -> SimpleNamespace:
        self.requests.append(new_topics)
        return SimpleNamespace(topic_errors=[(t.name, self.codes.get(t.name, 0), None) for t in new_topics])


@pytest.fixture
def settings() -> Settings:
    return Settings(topic_prefix="tunit.")


def _fake(monkeypatch: pytest.MonkeyPatch, existing: set[str] = frozenset(), codes: dict[str, int] | None = None):
    admin = FakeAdmin(set(existing), codes or {})
    monkeypatch.setattr(kafka, "AIOKafkaAdminClient", lambda **_kw: admin)
    return admin


async def test_every_missing_topic_is_created_in_one_request_with_its_partitions(monkeypatch, settings) -> None:
    admin = _fake(monkeypatch)
    created = await ensure_topics(settings)
    assert len(admin.requests) == 1
    assert {t.name: t.num_partitions for t in admin.requests[0]} == topic_partitions(settings)
    assert created == sorted(topic_partitions(settings)) and admin.closed


async def test_topics_that_exist_are_not_asked_for_and_nothing_missing_sends_nothing(monkeypatch, settings) -> None:
    lifecycle = settings.topic("cases.lifecycle")
    admin = _fake(monkeypatch, existing={lifecycle})
    assert lifecycle not in await ensure_topics(settings)
    assert lifecycle not in {t.name for t in admin.requests[0]}
    admin = _fake(monkeypatch, existing=set(topic_partitions(settings)))
    assert await ensure_topics(settings) == [] and admin.requests == []


async def test_a_topic_another_service_created_meanwhile_is_not_an_error_nor_ours(monkeypatch, settings) -> None:
    lifecycle = settings.topic("cases.lifecycle")
    _fake(monkeypatch, codes={lifecycle: TopicAlreadyExistsError.errno})
    created = await ensure_topics(settings)
    assert lifecycle not in created and len(created) == len(topic_partitions(settings)) - 1


async def test_a_topic_the_broker_refuses_raises_its_error(monkeypatch, settings) -> None:
    lifecycle = settings.topic("cases.lifecycle")
    admin = _fake(monkeypatch, codes={lifecycle: InvalidReplicationFactorError.errno})
    with pytest.raises(InvalidReplicationFactorError, match="cases.lifecycle"):
        await ensure_topics(settings)
    assert admin.closed


@pytest.mark.parametrize(("factor", "min_insync", "expected_min"), [(1, None, "1"), (3, None, "2"), (3, 3, "3")])
async def test_every_topic_gets_the_replication_factor_and_min_insync_replicas_of_the_settings(
        monkeypatch, factor: int, min_insync: int | None, expected_min: str) -> None:
    settings = Settings(topic_prefix="tunit.", kafka_replication_factor=factor, kafka_min_insync_replicas=min_insync)
    admin = _fake(monkeypatch)
    await ensure_topics(settings)
    assert {t.replication_factor for t in admin.requests[0]} == {factor}
    assert {t.topic_configs["min.insync.replicas"] for t in admin.requests[0]} == {expected_min}
