"""Probes of a running pipeline for end-to-end tests (test_e2e_uow_*.py): raw envelopes, publishing bytes as
they are, reading dead-letter topics, waiting until every consumer group has caught up.

Envelopes are written as plain JSON (not through the event classes), so what the tests send is the wire
format itself.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from support import faults
from support.faults import partitions
from support.infra import KAFKA

CONSUMES = faults.GROUPS
"""Each stateful service's consumer group and the topics it reads (one table for every probe)."""
STATEFUL = ("case", "router", "dedup", "notifier")


def now_iso() -> str:
    """Now, aware UTC, as ISO 8601 text."""
    return datetime.now(UTC).isoformat()


def envelope(event_type: str, data: dict[str, Any], *, subject: str, version: int = 1,
             event_id: uuid.UUID | None = None, correlation_id: uuid.UUID | None = None,
             producer: str = "adversary") -> dict[str, Any]:
    """An envelope as a plain dict (the wire shape), starting a flow unless `correlation_id` is given."""
    eid = event_id or uuid.uuid4()
    return {"event_id": str(eid), "event_type": event_type, "schema_version": version, "occurred_at": now_iso(),
            "producer": producer, "subject": subject, "correlation_id": str(correlation_id or eid),
            "causation_id": None, "data": data}


def to_bytes(env: dict[str, Any]) -> bytes:
    """The bytes a producer puts on Kafka for `env` (JSON, UTF-8)."""
    return json.dumps(env).encode()


def intake_message(*, token: str, contact_key: str, email: str, service_code: str, lat: float, long: float,
                   description: str, **extra: Any) -> dict[str, Any]:
    """The data of an Open311 `intake.message_received` with a point and an email (`extra` adds fields)."""
    data = {"channel": "open311", "channel_message_id": token, "contact_key": contact_key,
            "received_at": now_iso(), "service_code": service_code, "description": description,
            "lat": lat, "long": long, "pii": {"email": email}}
    data.update(extra)
    return data


class Kafka:
    """One producer for the test (acks=all, idempotent), publishing bytes unchanged."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)

    async def __aenter__(self) -> Kafka:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.producer.stop()

    async def send(self, topic: str, value: bytes, key: str | bytes, headers: list | None = None) -> None:
        k = key.encode() if isinstance(key, str) else key
        await self.producer.send_and_wait(self.prefix + topic, value, key=k,
                                          headers=headers or [("content-type", b"application/json")])


async def lag(prefix: str, groups: dict[str, tuple[str, ...]] | None = None) -> dict[str, int]:
    """Messages not yet consumed and committed, per consumer group (0 everywhere: caught up), on the shared
    Kafka (`support.faults.lag`)."""
    return await faults.lag(KAFKA, prefix, groups or CONSUMES)


async def read_topic(prefix: str, topic: str) -> list[dict[str, Any]]:
    """Every message of `topic` (e.g. ``intake.messages.dlq``) from the beginning: value, key, headers."""
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = await partitions(consumer, prefix + topic)
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[dict[str, Any]] = []
        async def behind() -> bool:
            for tp in tps:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        while await behind():
            batch = await consumer.getmany(timeout_ms=1000)
            for _tp, msgs in batch.items():
                for m in msgs:
                    out.append({"value": m.value, "key": m.key, "partition": m.partition, "offset": m.offset,
                                "headers": {k: v.decode(errors="replace") for k, v in (m.headers or [])}})
        return out
    finally:
        await consumer.stop()


async def unpublished(stack: Any) -> int:
    n = 0
    for schema in STATEFUL:
        if schema not in stack.services:
            continue
        conn = await stack.db(schema)
        try:
            n += await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await conn.close()
    return n


async def settled(stack: Any, groups: dict[str, tuple[str, ...]] | None = None) -> bool:
    """Every outbox relayed and every consumer group caught up (call it through `eventually`)."""
    groups = groups or {s: t for s, t in CONSUMES.items() if s in stack.services}
    if await unpublished(stack):
        return False
    return not any((await lag(stack.topic_prefix, groups)).values())


async def rows(stack: Any, schema: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    """The rows of `sql` run in a service's schema of the stack, as dicts."""
    conn = await stack.db(schema)
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def val(stack: Any, schema: str, sql: str, *args: Any) -> Any:
    """The single value of `sql` run in a service's schema of the stack."""
    conn = await stack.db(schema)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def outbox_events(stack: Any, schema: str) -> list[dict[str, Any]]:
    """The envelopes a service's outbox holds, oldest first, parsed."""
    return [json.loads(bytes(r["payload"])) for r in
            await rows(stack, schema, "SELECT payload FROM outbox ORDER BY id")]
