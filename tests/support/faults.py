"""Probes for the fault tests (tests/e2e/test_e2e_faults.py) on any Kafka cluster (the private ones of
support.private_infra included): reading whole topics, consumer-group lag, and an SMTP server that keeps
every message it is given, so that a notification sent twice shows as two messages.

Nothing here restarts anything: the test drives the faults itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

GROUPS = {
    "case": ("intake.messages", "routing.decisions", "dedup.decisions", "notifications.outcomes"),
    "router": ("cases.lifecycle",),
    "dedup": ("cases.lifecycle",),
    "notifier": ("cases.lifecycle", "intake.messages"),
}
"""Each stateful service's consumer group (its name under the stack's prefix) and the topics it reads."""


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka message as read back: where it sits and what it holds (value bytes as stored)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]
    timestamp_ms: int
    """The broker's (or producer's) timestamp, milliseconds since the epoch."""


async def partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of `topic` (a real name) in the cluster's metadata, in order; none for an unknown topic."""
    metadata = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - the consumer's own view is lazy
    return [TopicPartition(topic, p) for p in sorted(metadata.partitions_for_topic(topic) or set())]


async def read_topic(bootstrap: str, topic: str) -> list[Record]:
    """Every message of `topic` (a real name, prefix included) from the beginning up to its end when
    called, in offset order within each partition. An unknown topic reads as empty."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_bytes=32 << 20, max_partition_fetch_bytes=8 << 20)
    await consumer.start()
    try:
        tps = await partitions(consumer, topic)
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Record] = []
        left = {tp for tp in tps if ends[tp] > 0}
        while left:
            batch = await consumer.getmany(*left, timeout_ms=1000, max_records=10_000)
            for tp, msgs in batch.items():
                for m in msgs:
                    if m.offset < ends[tp]:
                        out.append(Record(topic, m.partition, m.offset, m.key, m.value,
                                          {k: v.decode(errors="replace") for k, v in (m.headers or [])}, m.timestamp))
            left = {tp for tp in left if await consumer.position(tp) < ends[tp]}
        return out
    finally:
        await consumer.stop()


async def lag(bootstrap: str, prefix: str, groups: dict[str, tuple[str, ...]] = GROUPS) -> dict[str, int]:
    """Messages not yet consumed and committed, per consumer group (``prefix + service``; `positions` summed
    over its partitions); 0 everywhere means caught up. Raises AssertionError when a topic has no partitions
    (the stack is not up)."""
    out = dict.fromkeys(groups, 0)
    for (service, _topic, _partition), (at, end) in (await positions(bootstrap, prefix, groups)).items():
        out[service] += max(0, end - at)
    return out


async def positions(bootstrap: str, prefix: str, groups: dict[str, tuple[str, ...]] = GROUPS,
                    ) -> dict[tuple[str, str, int], tuple[int, int]]:
    """Per (group, topic, partition): the group's committed offset (0 when none) and the partition's end.
    Raises AssertionError when a topic has no partitions (the stack is not up)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        out: dict[tuple[str, str, int], tuple[int, int]] = {}
        for service, topics in groups.items():
            committed = await admin.list_consumer_group_offsets(prefix + service)
            tps = [tp for t in topics for tp in await partitions(consumer, prefix + t)]
            assert tps, f"no partitions for {topics}"
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                at = committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0
                out[(service, tp.topic[len(prefix):], tp.partition)] = (at, ends[tp])
        return out
    finally:
        await consumer.stop()
        await admin.close()


def record_recovery(path: Path, line: str) -> None:
    """Print `line` and append it, stamped with the UTC time, to `path` (a test's recovery log under
    var/test-logs/, kept across runs so recovery times can be compared)."""
    print(line)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(f"{datetime.now(UTC).isoformat(timespec='seconds')} {line}\n")


def stalled(before: dict[tuple[str, str, int], tuple[int, int]],
            now: dict[tuple[str, str, int], tuple[int, int]]) -> list[tuple[str, str, int]]:
    """The partitions that had work at `before` (committed < end) and whose committed offset has not moved
    since (`positions` taken twice): a group that lost their consumer and has not taken them over yet."""
    return [k for k, (at, end) in before.items() if at < end and now.get(k, (at, end))[0] <= at]


@dataclass
class SmtpSink:
    """An SMTP server on 127.0.0.1 (a free port) that accepts every message (AUTH PLAIN/LOGIN with any
    password) and keeps its envelope recipients and headers in `messages`, in arrival order: the
    notifier's real send path (aiosmtplib over TCP) without a mail server's cost per message.
    ``OMNI311_SMTP_HOST``/``OMNI311_SMTP_PORT`` point a notifier at it (`env`)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> SmtpSink:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    def env(self) -> dict[str, str]:
        return {"OMNI311_SMTP_HOST": "127.0.0.1", "OMNI311_SMTP_PORT": str(self.port)}

    def per_recipient(self) -> Counter[str]:
        """How many messages each recipient address got."""
        return Counter(r for m in self.messages for r in m["rcpt"])

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        rcpt: list[str] = []
        try:
            await say("220 sink ESMTP")
            while line := await reader.readline():
                verb = line.decode(errors="replace").strip()
                upper = verb.upper()
                if upper.startswith(("EHLO", "HELO")):
                    writer.write(b"250-sink\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                    await writer.drain()
                elif upper.startswith("AUTH LOGIN"):
                    await say("334 VXNlcm5hbWU6")
                    await reader.readline()
                    await say("334 UGFzc3dvcmQ6")
                    await reader.readline()
                    await say("235 ok")
                elif upper.startswith("AUTH"):
                    if len(verb.split()) == 2:  # AUTH PLAIN without the initial response
                        await say("334 ")
                        await reader.readline()
                    await say("235 ok")
                elif upper.startswith("MAIL FROM"):
                    rcpt = []
                    await say("250 ok")
                elif upper.startswith("RCPT TO"):
                    rcpt.append(verb.split(":", 1)[1].split()[0].strip("<>").lower())
                    await say("250 ok")
                elif upper == "DATA":
                    await say("354 go on")
                    data = bytearray()
                    while (chunk := await reader.readline()) not in (b".\r\n", b".\n", b""):
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    if chunk == b"":  # the sender died mid-DATA (a SIGKILLed replica): nothing was delivered
                        break
                    headers = BytesHeaderParser().parsebytes(bytes(data))
                    self.messages.append({"rcpt": list(rcpt), "message_id": headers.get("Message-ID"),
                                          "subject": str(headers.get("Subject", "")), "at": time.time()})
                    await say("250 kept")
                elif upper == "QUIT":
                    await say("221 bye")
                    break
                else:  # RSET, NOOP and the rest
                    await say("250 ok")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

