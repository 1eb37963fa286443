"""A batch subscriber built from shared.kafka dead-letters what can never succeed, retries what may, keeps
consuming, and commits a batch's offsets only once its handler has returned."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared.events import CaseStatusChanged, Envelope
from shared.kafka import SUBSCRIBER_DEFAULTS, Consumer, Delivery, PermanentError, create_broker, per_event
from shared.settings import Settings
from support.infra import KAFKA
from support.wait import eventually

NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)
CASE = uuid.UUID("6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d")
KEY = str(CASE).encode()  # one key: one partition, so the order of the test's messages holds

Handler = Callable[[Envelope, Delivery], Awaitable[None]]


def status_changed(notes: str) -> Envelope:
    data = CaseStatusChanged(case_id=CASE, service_request_id="311-000123", jurisdiction_id="demo",
                             status="closed", status_notes=notes)
    return Envelope.new_flow(data, subject=str(CASE), producer="case", now=NOW)


@dataclass
class App:
    """A tiny service: one subscriber on cases.lifecycle, the way services/*/app.py build theirs."""

    broker: KafkaBroker
    consumer: Consumer
    handled: list[tuple[str, int]] = field(default_factory=list)  # (status_notes, dead-lettered so far)


@pytest.fixture
async def start_app(settings: Settings) -> AsyncIterator[Callable[..., Awaitable[App]]]:
    apps: list[App] = []

    async def start(handler: Handler | None = None, *, graceful_timeout_s: float | None = None) -> App:
        broker = create_broker(settings, "it")
        if graceful_timeout_s is not None:
            broker.config.broker_config.graceful_timeout = graceful_timeout_s
        app = App(broker=broker, consumer=Consumer(broker=broker, settings=settings, service="it"))

        async def record(env: Envelope, delivery: Delivery) -> None:
            if handler is not None:
                await handler(env, delivery)
            app.handled.append((env.data["status_notes"], app.consumer.dead_lettered))

        call = per_event(record)

        @broker.subscriber(settings.topic("cases.lifecycle"), group_id=settings.group("it"),
                           listener=app.consumer.listener(settings.group("it")), **SUBSCRIBER_DEFAULTS)
        async def on_lifecycle(msg: KafkaMessage) -> None:
            await app.consumer.handle_batch(msg, call)

        await broker.start()
        apps.append(app)
        return app

    try:
        yield start
    finally:
        for app in apps:
            await app.broker.stop()


@pytest.fixture
async def send(settings: Settings) -> AsyncIterator[Callable[..., Awaitable[None]]]:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)
    await producer.start()

    async def send(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> None:
        await producer.send_and_wait(settings.topic("cases.lifecycle"), value, key=KEY, headers=headers or [])

    try:
        yield send
    finally:
        await producer.stop()


def notes(app: App) -> list[str]:
    return [n for n, _ in app.handled]


async def test_garbage_goes_to_the_dlq_with_the_error_and_the_next_message_is_handled(
        settings: Settings, start_app: Any, send: Any, kafka: Any) -> None:
    app = await start_app()
    await send(b"\xff\x00 not an envelope")
    await send(status_changed("valid").to_bytes())

    await eventually(lambda: notes(app) == ["valid"], timeout=15, what="valid message handled")
    (dead,) = await kafka.read(settings.topic("cases.lifecycle") + ".dlq", 1)
    headers = dict(dead.headers)

    assert notes(app) == ["valid"] and app.consumer.dead_lettered == 1, "the garbage is dead-lettered, not retried"
    assert dead.value == b"\xff\x00 not an envelope" and dead.key == KEY
    assert headers["x-omni311-error"] == b"unparseable_envelope"
    assert headers["x-omni311-source-topic"] == settings.topic("cases.lifecycle").encode()
    assert headers["x-omni311-source-offset"] == b"0"
    assert headers["x-omni311-consumer"] == b"it"
    assert b"json" in headers["x-omni311-error-detail"].lower()


async def test_a_body_labelled_json_that_is_not_json_is_dead_lettered_too(
        settings: Settings, start_app: Any, send: Any, kafka: Any) -> None:
    """The outbox labels every message `content-type: application/json`; a corrupt one must not be
    decoded (and fail) before our handler sees it, or the partition would redeliver it forever."""
    app = await start_app()
    await send(b'{"event_id": "truncated', headers=[("content-type", b"application/json")])
    await send(status_changed("after corrupt json").to_bytes(), headers=[("content-type", b"application/json")])

    await eventually(lambda: notes(app) == ["after corrupt json"], timeout=15, what="next message handled")
    (dead,) = await kafka.read(settings.topic("cases.lifecycle") + ".dlq", 1)
    assert dict(dead.headers)["x-omni311-error"] == b"unparseable_envelope"


async def test_a_handler_raising_a_permanent_error_dead_letters_and_consumption_continues(
        settings: Settings, start_app: Any, send: Any, kafka: Any) -> None:
    calls: list[str] = []

    async def handler(env: Envelope, _d: Delivery) -> None:
        calls.append(env.data["status_notes"])
        if env.data["status_notes"] == "poison":
            raise PermanentError("case 311-000123 does not exist")

    app = await start_app(handler)
    poison = status_changed("poison")
    await send(poison.to_bytes())
    await send(status_changed("fine").to_bytes())

    await eventually(lambda: notes(app) == ["fine"], timeout=15, what="next message handled")
    (dead,) = await kafka.read(settings.topic("cases.lifecycle") + ".dlq", 1)
    headers = dict(dead.headers)

    assert calls == ["poison", "fine"], "a permanent error is not retried"
    assert Envelope.from_bytes(dead.value) == poison
    assert headers["x-omni311-error"] == b"PermanentError"
    assert b"does not exist" in headers["x-omni311-error-detail"]


async def test_a_transient_error_is_retried_and_succeeds_without_dead_lettering(
        settings: Settings, start_app: Any, send: Any, kafka: Any) -> None:
    attempts: list[str] = []

    async def flaky(env: Envelope, _d: Delivery) -> None:
        attempts.append(env.data["status_notes"])
        if len(attempts) <= 2:
            raise ConnectionResetError("database went away")

    app = await start_app(flaky)
    await send(status_changed("flaky").to_bytes())

    await eventually(lambda: notes(app) == ["flaky"], timeout=15, what="handled after retries")
    assert attempts == ["flaky"] * 3
    assert app.consumer.dead_lettered == 0
    assert await kafka.count(settings.topic("cases.lifecycle") + ".dlq") == 0


async def test_an_outage_longer_than_the_retries_is_never_dead_lettered_and_the_message_comes_back(
        settings: Settings, start_app: Any, send: Any, kafka: Any) -> None:
    attempts: list[str] = []

    async def down_for_a_while(env: Envelope, _d: Delivery) -> None:
        attempts.append(env.data["status_notes"])
        if len(attempts) <= settings.consumer_retry_attempts + 1:
            raise OSError("connection refused")

    app = await start_app(down_for_a_while)
    await send(status_changed("outage").to_bytes())
    await send(status_changed("after outage").to_bytes())

    await eventually(lambda: notes(app) == ["outage", "after outage"], timeout=20, what="both handled, in order")
    assert attempts[: settings.consumer_retry_attempts + 2] == ["outage"] * (settings.consumer_retry_attempts + 2)
    assert await kafka.count(settings.topic("cases.lifecycle") + ".dlq") == 0


async def test_an_offset_is_committed_only_after_the_handler_returns(
        settings: Settings, start_app: Any, send: Any) -> None:
    in_handler = asyncio.Event()

    async def stuck_on_second(env: Envelope, _d: Delivery) -> None:
        if env.data["status_notes"] == "second":
            in_handler.set()
            await asyncio.Event().wait()  # the process is stopped before this effect completes

    first = await start_app(stuck_on_second, graceful_timeout_s=0.5)
    await send(status_changed("first").to_bytes())
    await eventually(lambda: notes(first) == ["first"], timeout=15, what="first handled")
    await send(status_changed("second").to_bytes())  # a later batch: fetched once the first one committed
    await asyncio.wait_for(in_handler.wait(), 15)
    await first.broker.stop()
    assert notes(first) == ["first"]

    restarted = await start_app()
    await eventually(lambda: notes(restarted) == ["second"], timeout=15, what="unacknowledged message redelivered")
    await asyncio.sleep(0.5)
    assert notes(restarted) == ["second"], "the acknowledged message must not come back"
