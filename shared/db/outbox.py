"""Transactional outbox: events are written with the state change and relayed to Kafka afterwards.

`enqueue` runs inside the caller's transaction; the relay publishes rows in id order with the safe
producer, marks them published, and wakes on LISTEN/NOTIFY with a polling fallback. One relay per
schema is active at a time (an advisory lock), so per-key order holds with several replicas; a standby
waits in the lock's queue, so it takes over the moment the active relay's session ends (a crash closes
its connection), without polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import asyncpg

from shared.db.pool import connect, quote_ident
from shared.events import Envelope, registry
from shared.logs import get_logger

log = get_logger(__name__)

Publish = Callable[[list[tuple[bytes, str, bytes]]], Awaitable[None]]
"""publish([(payload, topic, key), ...]): send messages in this order and wait until the broker
acknowledged every one (raises if any failed)."""


def channel_name(schema: str) -> str:
    return f"{schema}_outbox"


async def enqueue(conn: asyncpg.Connection, envelope: Envelope, *, schema: str, notify: bool = True) -> None:
    """Write `envelope` to the outbox of `schema` inside the caller's open transaction, and (with `notify`)
    wake the relay when that transaction commits; a caller writing several rows may pass `notify=False`
    and call `wake_relay` once.

    The topic comes from the registry; the key is the envelope's `subject`. Raises `KeyError` for an
    event the registry does not know.
    """
    topic = registry().spec(envelope.event_type, envelope.schema_version).topic
    await conn.execute(
        "INSERT INTO outbox (event_id, topic, message_key, payload) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (event_id) DO NOTHING",
        envelope.event_id, topic, envelope.subject, envelope.to_bytes(),
    )
    if notify:
        await wake_relay(conn, schema=schema)


OutboxRow = tuple[UUID, str, str, bytes]
"""One outbox row to write: (event_id, topic, message key, payload)."""


def outbox_row(envelope: Envelope) -> OutboxRow:
    """The outbox row of `envelope`: topic from the registry, key its `subject`. Raises `KeyError` for an
    event the registry does not know (so a caller that writes later still fails at once)."""
    topic = registry().spec(envelope.event_type, envelope.schema_version).topic
    return envelope.event_id, topic, envelope.subject, envelope.to_bytes()


async def enqueue_many(conn: asyncpg.Connection, rows: Sequence[OutboxRow], *, schema: str) -> None:
    """Write `rows` to the outbox of `schema` inside the caller's open transaction, in one statement that
    also wakes the relay at the commit (one round trip for a whole consumed batch instead of one per row).
    Ids follow the order of `rows` (the outbox's order, hence per-key order on Kafka); an event id already
    there is skipped, as `enqueue` does."""
    if not rows:
        return
    ids, topics, keys, payloads = (list(col) for col in zip(*rows, strict=True))
    await conn.execute(
        "WITH ins AS (INSERT INTO outbox (event_id, topic, message_key, payload) "
        "SELECT e, t, k, p FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[]) WITH ORDINALITY "
        "AS r(e, t, k, p, n) ORDER BY n ON CONFLICT (event_id) DO NOTHING) "
        "SELECT pg_notify($5, '')",
        ids, topics, keys, payloads, channel_name(schema),
    )


async def wake_relay(conn: asyncpg.Connection, *, schema: str) -> None:
    """NOTIFY the relay of `schema`; inside a transaction it is delivered at the commit (and once, however
    often it was sent there)."""
    await conn.execute("SELECT pg_notify($1, '')", channel_name(schema))


STANDBY_CHECK_S = 1.0
"""How long a standby relay waits in the advisory lock's queue (PostgreSQL ``lock_timeout``) before it
asks again, in seconds: the lock is granted the moment it is released whatever this is; the bound only
lets a standby notice a stop or a dead connection."""


def lock_key(schema: str) -> int:
    """The advisory lock (a signed 64-bit key) that one relay of `schema` holds while it relays."""
    return int.from_bytes(hashlib.sha256(f"outbox:{schema}".encode()).digest()[:8], "big", signed=True)


class OutboxRelay:
    """Publishes a schema's outbox to Kafka until stopped.

    `topic_name` maps a registry topic to the real topic (test prefixes). `poll_interval_s` is the
    fallback wake-up in seconds when no NOTIFY arrives (a row written without one); a NOTIFY drains at
    once, and a full batch (`batch_size` rows) is followed by the next one at once. A standby relay (the
    lock is another's) queues on the lock and takes over as soon as it is released, not after a poll.
    """

    def __init__(
        self,
        *,
        dsn: str,
        schema: str,
        publish: Publish,
        topic_name: Callable[[str], str],
        poll_interval_s: float = 1.0,
        batch_size: int = 200,
    ) -> None:
        self._dsn = dsn
        self._schema = schema
        self._publish = publish
        self._topic_name = topic_name
        self._poll = poll_interval_s
        self._batch = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = asyncio.Event()  # clear while a drain has rows in flight
        self._idle.set()
        self.published = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._schema}")

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop relaying. A drain in progress may finish (up to `grace_s` seconds) so that what it
        published is marked as published; cancelling between the two would resend it after a restart."""
        self._stopping = True
        self._wake.set()
        if self._task:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=grace_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        backoff = 0.5
        while not self._stopping:
            try:
                await self._session()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must outlive broker/db outages
                log.warning("outbox_relay_error", schema=self._schema, error=repr(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _session(self) -> None:
        conn = await connect(self._dsn, self._schema, application_name=f"{self._schema}-outbox-relay")
        try:
            if not await self._take_lock(conn):
                return  # stopped while standing by
            await conn.add_listener(channel_name(self._schema), lambda *_: self._wake.set())
            while not self._stopping:
                # Clear before draining, not after: a NOTIFY that arrives during the drain is for a row
                # the drain's SELECT may not have seen, and must end the wait below at once.
                self._wake.clear()
                sent = await self._drain_once(conn)
                if sent < self._batch:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=5.0)
            if not conn.is_closed():
                conn.terminate()

    async def _take_lock(self, conn: asyncpg.Connection) -> bool:
        """True once this session holds the schema's relay lock; False when the relay was stopped while
        standing by. While another replica holds the lock, wait in its queue (granted the moment that
        session ends) for at most `STANDBY_CHECK_S` at a time, then ask again. Raises the connection's
        error when it is lost."""
        await conn.execute(f"SET lock_timeout = '{int(STANDBY_CHECK_S * 1000)}ms'")
        while True:
            try:
                await conn.fetchval("SELECT pg_advisory_lock($1)", lock_key(self._schema))
                break
            except asyncpg.LockNotAvailableError:
                if self._stopping:
                    return False
        # Only the wait is bounded: the relay's own statements must not fail on a slow lock.
        await conn.execute("SET lock_timeout = 0")
        return True

    async def _drain_once(self, conn: asyncpg.Connection) -> int:
        self._idle.clear()
        try:
            rows = await conn.fetch(
                "SELECT id, topic, message_key, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
                self._batch,
            )
            if not rows:
                return 0
            await self._publish([(r["payload"], self._topic_name(r["topic"]), r["message_key"].encode())
                                 for r in rows])
            await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])",
                               [r["id"] for r in rows])
            self.published += len(rows)
            return len(rows)
        finally:
            self._idle.set()

    async def pending(self) -> int:
        conn = await connect(self._dsn, self._schema, application_name=f"{self._schema}-outbox-probe")
        try:
            return int(await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        finally:
            await conn.close()


async def oldest_unpublished_age_s(db: asyncpg.Pool | asyncpg.Connection) -> float:
    """Seconds (wall clock of the database, UTC) since the oldest outbox row not yet published was written;
    0.0 when every row is published. What ops alert on as "outbox age" (docs/operations.md): a relay that
    stopped publishing shows as a growing age while the service still takes events. One index scan
    (``outbox_unpublished``). Raises `OSError`/`asyncpg.PostgresError` when the database cannot be reached."""
    age = await db.fetchval(
        "SELECT extract(epoch FROM now() - created_at) FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT 1")
    return max(0.0, float(age)) if age is not None else 0.0


__all__ = ["OutboxRelay", "oldest_unpublished_age_s", "enqueue", "quote_ident", "wake_relay"]
