"""Two notifier replicas in one consumer group, one SIGKILLed in the middle of a burst of 400 email reports
while its sends are in flight (issue 14, item 3): every case ends with exactly one acknowledgement
outcome — sent once (by its replica, or by the survivor's sweeper when the dead one had claimed it but not
yet handed it to the mail server), its one copy in the mailbox under the delivery's own Message-ID; or,
for the one send in flight at the kill, recorded failed on the case timeline (it may have gone out, and
is never sent twice) — and none is left `sending`.

Real processes: the case service (opens the cases from `intake.message_received` published here as raw
envelopes, and puts `notification.recorded` on its timeline) and two notifiers, the second one sending
through a slow SMTP relay (to the same mail server) so that its sends are in flight when it is killed. The
sweepers' timeout is set short through the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import imaplib
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from email import policy
from typing import Any

from services.notifier.config import ChannelSettings
from services.notifier.domain.messages import delivery_message_id
from services.notifier.domain.outcomes import INTERRUPTED, RESENT
from support.infra import IMAP, SMTP, check_kafka, check_postgres
from support.pipeline import Kafka, envelope, intake_message, outbox_events, rows, to_bytes
from support.stack import Stack
from support.wait import eventually

REPORTS = 400
SENDING_TIMEOUT_S = 5.0
"""The sweepers' `notifier_sending_timeout_s` here: a silent owner is taken for dead after 5 s (900 s in
production)."""


SEND_CONCURRENCY = ChannelSettings().notifier_send_concurrency
"""How many sends a notifier replica has in hand at once (the default, which the stack keeps)."""


class SlowSmtpRelay:
    """A TCP relay to the mail server that holds each of the server's replies `delay_s` seconds: a mail
    takes about seven replies, so a send through it is in flight for about half a second."""

    def __init__(self, target: tuple[str, int], delay_s: float) -> None:
        self.target, self.delay_s = target, delay_s
        self.server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> SlowSmtpRelay:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay_s: float) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while chunk := await reader.read(65536):
                    if delay_s:
                        await asyncio.sleep(delay_s)
                    writer.write(chunk)
                    await writer.drain()
            writer.close()

        async def relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
            server_r, server_w = await asyncio.open_connection(*self.target)
            for t in (asyncio.create_task(pipe(client_r, server_w, 0)),
                      asyncio.create_task(pipe(server_r, client_w, self.delay_s))):
                self._tasks.add(t)
                t.add_done_callback(self._tasks.discard)

        self.server = await asyncio.start_server(relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for t in list(self._tasks):
            t.cancel()
        assert self.server is not None
        self.server.close()


@contextlib.asynccontextmanager
async def case_and_notifier() -> AsyncIterator[Stack]:
    await check_kafka()
    await check_postgres()
    stack = Stack(jurisdiction="demo", services=("case", "notifier"), extra_env={
        "OMNI311_NOTIFIER_SENDING_TIMEOUT_S": str(SENDING_TIMEOUT_S), "OMNI311_NOTIFIER_SWEEP_INTERVAL_S": "0.5"})
    await stack.up()
    try:
        yield stack
    finally:
        await stack.down()


def _message_ids(address: str) -> list[str]:
    """The Message-IDs in `address`'s INBOX on the test mail server ([] when it has no mailbox)."""
    box = imaplib.IMAP4(*IMAP)
    try:
        box.login(address, address)
        box.select("INBOX", readonly=True)
        _typ, data = box.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        return [str(email.message_from_bytes(part[1], policy=policy.default)["Message-ID"])
                for part in data if isinstance(part, tuple)]
    except imaplib.IMAP4.error:
        return []
    finally:
        with contextlib.suppress(Exception):
            box.logout()


async def _mailboxes(addresses: list[str]) -> dict[str, list[str]]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = await asyncio.gather(*(asyncio.get_running_loop().run_in_executor(pool, _message_ids, a)
                                       for a in addresses))
    return dict(zip(addresses, found, strict=True))


async def _acknowledgements(stack: Stack, domain: str) -> list[dict[str, Any]]:
    return await rows(stack, "notifier", (
        "SELECT c.case_id, c.email, d.id, d.status, d.reason, d.provider_message_id, d.owner, d.cause_event_id "
        "FROM contacts c LEFT JOIN deliveries d ON d.case_id = c.case_id AND d.kind = 'acknowledgement' "
        "WHERE c.email LIKE $1"), f"%@{domain}")


async def _timeline(stack: Stack) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    entries: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for t in await rows(stack, "case", "SELECT case_id, kind, detail FROM timeline WHERE kind LIKE 'notification_%' "
                                       "ORDER BY id"):
        detail = t["detail"] if isinstance(t["detail"], dict) else json.loads(t["detail"])
        entries.setdefault(str(t["case_id"]), []).append((t["kind"], detail))
    return entries


async def test_a_notifier_replica_killed_mid_burst_leaves_every_case_one_acknowledgement_outcome() -> None:
    domain = f"kill-{uuid.uuid4().hex[:8]}.resident.test"
    async with case_and_notifier() as stack, Kafka(stack.topic_prefix) as kafka, \
            SlowSmtpRelay(SMTP, 0.06) as slow:
        survivor = (await eventually(lambda: rows(stack, "notifier", "SELECT instance_id FROM senders"),
                                     timeout=30, what="the first notifier beating"))[0]["instance_id"]
        # The second replica, same consumer group, sends through the slow relay.
        relay_env = {"OMNI311_SMTP_HOST": "127.0.0.1", "OMNI311_SMTP_PORT": str(slow.port)}
        stack.extra_env.update(relay_env)
        stack.start("notifier-2")
        for key in relay_env:
            del stack.extra_env[key]
        await stack.wait_ready("notifier-2")

        async def two_beating():  # noqa: ANN202
            ids = [r["instance_id"] for r in await rows(stack, "notifier", "SELECT instance_id FROM senders")]
            return next((i for i in ids if i != survivor), None)

        victim = await eventually(two_beating, timeout=30, what="the second notifier beating")

        addresses = [f"r{i:03d}@{domain}" for i in range(REPORTS)]
        for i, address in enumerate(addresses):
            ck = f"ck_{domain[:13]}_{i:03d}"
            env = envelope("intake.message_received", intake_message(
                token=f"{domain}-{i}", contact_key=ck, email=address, service_code="graffiti",
                lat=45.40 + (i % 20) * 0.002, long=-75.70 + (i // 20) * 0.002,
                description=f"Tags on the wall, report {i}"), subject=ck)
            await kafka.send("intake.messages", to_bytes(env), ck)

        async def victim_mid_send():  # noqa: ANN202
            by = Counter(r["status"] for r in await rows(stack, "notifier",
                                                         "SELECT status FROM deliveries WHERE owner = $1", victim))
            return dict(by) if by["sent"] >= 5 and by["sending"] >= 1 else None

        await eventually(victim_mid_send, timeout=120, interval=0.05, what="the second replica sending")
        stack.kill("notifier-2")  # SIGKILL, sends in flight
        killed_at = time.monotonic()
        at_kill = Counter((("victim" if r["owner"] == victim else "survivor"), r["status"])
                          for r in await rows(stack, "notifier", "SELECT owner, status FROM deliveries"))

        async def every_case_settled():  # noqa: ANN202
            acks = await _acknowledgements(stack, domain)
            if len(acks) < REPORTS or any(a["status"] in (None, "sending") for a in acks):
                return None
            timeline = await _timeline(stack)
            return acks if all(str(a["case_id"]) in timeline for a in acks) else None

        acks = await eventually(every_case_settled, timeout=180, interval=0.25,
                                what="every case's acknowledgement settled and on its timeline")
        recovered_s = time.monotonic() - killed_at
        timeline = await _timeline(stack)
        outbox = [e for e in await outbox_events(stack, "notifier") if e["event_type"] == "notification.recorded"]
        boxes = await _mailboxes(addresses)

    recorded = Counter(e["data"]["case_id"] for e in outbox if e["data"]["kind"] == "acknowledgement")
    outcomes = Counter(a["status"] for a in acks)
    failed = [a for a in acks if a["status"] == "failed"]
    resent = [a for a in acks if any(d.get("reason") == RESENT for _, d in timeline[str(a["case_id"])])]
    failed_went_out = sum(len(boxes[a["email"]]) for a in failed)
    all_ids = [m for ids in boxes.values() for m in ids]
    report = {"reports": REPORTS, "at_kill": {f"{o}:{s}": n for (o, s), n in sorted(at_kill.items())},
              "outcomes": dict(outcomes), "resent_by_survivor": len(resent), "failed_that_went_out": failed_went_out, "mails": len(all_ids),
              "duplicate_message_ids": len(all_ids) - len(set(all_ids)),
              "duplicate_records": sum(n - 1 for n in recorded.values() if n > 1),
              "recovered_s": round(recovered_s, 1)}
    print("NOTIFIER REPLICA KILL REPORT", json.dumps(report))

    assert at_kill[("victim", "sending")] >= 1, report  # killed while sending, by construction
    assert len(acks) == REPORTS and len({a["case_id"] for a in acks}) == REPORTS, report
    assert set(outcomes) <= {"sent", "failed"}, report  # none left sending
    # only the sends in flight at the kill: a replica has at most SEND_CONCURRENCY in hand at once
    assert len(failed) <= SEND_CONCURRENCY, report
    # one outcome per case, published once, on the case's timeline once
    assert sorted(recorded.values()) == [1] * REPORTS, report
    for a in acks:
        entries = [(k, d) for k, d in timeline[str(a["case_id"])] if d.get("kind") == "acknowledgement"]
        assert [k for k, _ in entries] == [f"notification_{a['status']}"], (a, entries)
        mails = boxes[a["email"]]
        stable = delivery_message_id(a["id"], a["cause_event_id"], stack.city_address)
        if a["status"] == "sent":
            # sent once, under the delivery's own Message-ID, whichever replica sent it
            assert mails == [stable] and a["provider_message_id"] == stable, (a, mails)
            assert entries[0][1]["reason"] in (None, RESENT), entries
        else:
            # settled, raised on the timeline with the reason; never resent (it may have left once)
            assert a["reason"] == INTERRUPTED and entries[0][1]["reason"] == INTERRUPTED, a
            assert mails in ([], [stable]), (a, mails)
    assert report["duplicate_message_ids"] == 0 and report["duplicate_records"] == 0, report
