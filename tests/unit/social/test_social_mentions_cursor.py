"""Mastodon mentions are read since a persisted cursor: nothing is missed or read twice across restarts,
a burst longer than a page is read whole and in order, a failure keeps the cursor on the last mention
fully handled, and the very first poll reads only the backfill window. Fakes for the server and store."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake_social.domain.outcomes import Outcome
from services.intake_social.config import SocialSettings
from services.intake_social.service_layer.mentions import (
    MentionDeps,
    MentionIntake,
    MentionPoller,
    MentionWatcher,
    new_mentions,
    poll_mentions,
)
from shared.events import Envelope, MessageReceived
from support.data import shared_data
from support.wait import eventually

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
KEY = "mastodon:city.social:1"


def mention(nid: int, *, at: datetime = NOW - timedelta(minutes=5), kind: str = "mention",
            author_id: str = "77") -> dict[str, Any]:
    path = shared_data() / "meta_social" / "mastodon" / "mastodonpy_notifications_mentions_only_response.json"
    (base,) = json.loads(path.read_text("utf-8"))
    n = copy.deepcopy(base)
    n.update(id=str(nid), type=kind, created_at=at.isoformat())
    n["status"].update(id=f"10{nid:04d}", created_at=at.isoformat(),
                       content=f"<p>@<span>city311</span> report number {nid}</p>")
    n["status"]["account"]["id"] = author_id
    return n


class FakeServer:
    """Mastodon's GET /api/v1/notifications semantics: newest first, since_id < id < max_id, limit."""

    def __init__(self, notifications: list[dict[str, Any]]) -> None:
        self.notifications = notifications
        self.calls: list[tuple[str | None, str | None, int]] = []
        self.fail_after: int | None = None

    async def page(self, *, since_id: str | None, max_id: str | None, limit: int) -> list[Mapping[str, Any]]:
        self.calls.append((since_id, max_id, limit))
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise ConnectionError("server went away")
        items = sorted(self.notifications, key=lambda n: int(n["id"]), reverse=True)
        items = [n for n in items if (since_id is None or int(n["id"]) > int(since_id))
                 and (max_id is None or int(n["id"]) < int(max_id))]
        return items[:limit]


class FakeStore:
    """Cursor and outbox as one unit of work; `fail_on` makes one `advance` raise (a database outage)."""

    def __init__(self) -> None:
        self.cursors: dict[str, str] = {}
        self.outbox: list[Envelope] = []
        self.fail_on: str | None = None

    async def get(self, source: str) -> str | None:
        return self.cursors.get(source)

    async def advance(self, source: str, cursor: str, envelope: Envelope | None) -> None:
        if cursor == self.fail_on:
            raise OSError("database unreachable")
        if envelope is not None and envelope.event_id not in {e.event_id for e in self.outbox}:
            self.outbox.append(envelope)
        self.cursors[source] = cursor


def deps(server: FakeServer, store: FakeStore, reported: list[Outcome] | None = None, **kw: Any) -> MentionDeps:
    return MentionDeps(source=server, store=store, cursor_key=KEY, own_acct="city311", own_account_id="1",
                       instance_host="city.social", report=(reported if reported is not None else []).append, **kw)


def texts(store: FakeStore) -> list[str]:
    return [e.payload(MessageReceived).description for e in store.outbox]


async def test_mentions_are_published_in_order_and_the_cursor_is_the_last_one() -> None:
    server, store = FakeServer([mention(i) for i in (3, 1, 2)]), FakeStore()
    assert await poll_mentions(deps(server, store), NOW) == 3
    assert texts(store) == ["report number 1", "report number 2", "report number 3"]
    assert store.cursors == {KEY: "3"}
    assert server.calls[0] == (None, None, 40)


async def test_a_restart_reads_only_what_came_after_the_persisted_cursor() -> None:
    server, store = FakeServer([mention(1), mention(2)]), FakeStore()
    await poll_mentions(deps(server, store), NOW)
    # a new process: same store (the database), new deps
    server.notifications.append(mention(3))
    server.calls.clear()
    assert await poll_mentions(deps(server, store), NOW) == 1
    assert texts(store) == ["report number 1", "report number 2", "report number 3"]
    assert server.calls[0][0] == "2"  # asked since the persisted cursor
    assert await poll_mentions(deps(server, store), NOW) == 0
    assert len(store.outbox) == 3


async def test_a_burst_longer_than_a_page_is_read_whole() -> None:
    server, store = FakeServer([mention(i) for i in range(1, 12)]), FakeStore()
    store.cursors[KEY] = "1"
    assert await poll_mentions(deps(server, store, page_size=4), NOW) == 10
    assert texts(store) == [f"report number {i}" for i in range(2, 12)]
    assert store.cursors[KEY] == "11"
    assert [c[:2] for c in server.calls] == [("1", None), ("1", "8"), ("1", "4"), ("1", "2")]


async def test_a_failure_midway_keeps_the_cursor_on_the_last_mention_handled_and_nothing_is_lost() -> None:
    server, store = FakeServer([mention(i) for i in (1, 2, 3)]), FakeStore()
    store.fail_on = "2"
    with pytest.raises(OSError):
        await poll_mentions(deps(server, store), NOW)
    assert store.cursors[KEY] == "1" and texts(store) == ["report number 1"]
    store.fail_on = None
    assert await poll_mentions(deps(server, store), NOW) == 2
    assert texts(store) == ["report number 1", "report number 2", "report number 3"]


async def test_a_server_failure_moves_nothing() -> None:
    server, store = FakeServer([mention(1)]), FakeStore()
    server.fail_after = 0
    with pytest.raises(ConnectionError):
        await poll_mentions(deps(server, store), NOW)
    assert store.cursors == {} and store.outbox == []


async def test_the_first_poll_reads_only_the_backfill_window() -> None:
    old = [mention(i, at=NOW - timedelta(days=30)) for i in (1, 2)]
    server, store = FakeServer([*old, mention(3, at=NOW - timedelta(hours=1))]), FakeStore()
    assert await poll_mentions(deps(server, store, backfill=timedelta(hours=24)), NOW) == 1
    assert texts(store) == ["report number 3"] and store.cursors[KEY] == "3"


async def test_other_notifications_and_our_own_statuses_move_the_cursor_without_a_message() -> None:
    server = FakeServer([mention(1, kind="favourite"), mention(2, author_id="1"), mention(3)])
    store, reported = FakeStore(), []
    assert await poll_mentions(deps(server, store, reported), NOW) == 1
    assert store.cursors[KEY] == "3"
    assert [(o.kind, getattr(o, "reason", "")) for o in reported] == [
        ("ignored", "not_a_mention"), ("ignored", "own_status"), ("message", "message")]


async def test_two_replicas_reading_the_same_mention_make_one_event() -> None:
    server, store = FakeServer([mention(1)]), FakeStore()
    other = FakeStore()
    await poll_mentions(deps(server, store), NOW)
    await poll_mentions(deps(server, other), NOW)
    assert store.outbox[0].event_id == other.outbox[0].event_id


async def test_new_mentions_stops_on_a_server_that_ignores_max_id() -> None:
    class Stubborn(FakeServer):
        async def page(self, *, since_id: str | None, max_id: str | None, limit: int) -> list[Mapping[str, Any]]:
            self.calls.append((since_id, max_id, limit))
            return [mention(5), mention(4)]

    server = Stubborn([])
    found = await new_mentions(server, "1", page_size=2, not_before=None, now=NOW)
    assert [n["id"] for n in found] == ["4", "5"] and len(server.calls) == 2


async def test_the_watcher_polls_at_once_when_nudged_and_survives_errors() -> None:
    calls: list[float] = []
    errors: list[BaseException] = []

    async def poll() -> int:
        calls.append(asyncio.get_running_loop().time())
        if len(calls) == 2:
            raise ConnectionError("blip")
        return 0

    watcher = MentionWatcher(poll, interval_s=60, on_error=lambda exc, wait: errors.append(exc))
    task = asyncio.create_task(watcher.run())
    for expected in (1, 2, 3):
        await eventually(lambda: len(calls) >= expected, timeout=5, interval=0.01, what=f"poll {expected}")
        watcher.nudge()
    watcher.stop()
    await asyncio.wait_for(task, timeout=5)
    assert len(calls) >= 3 and len(errors) == 1


class FakeAccount(FakeServer):
    """The city's account: its mentions, who it is (each question counted) and a stream it may not have."""

    instance_host = "city.social"

    def __init__(self, notifications: list[dict[str, Any]]) -> None:
        super().__init__(notifications)
        self.whoami_calls = 0
        self.closed = False

    async def whoami(self) -> tuple[str, str]:
        self.whoami_calls += 1
        return "1", "city311"

    async def stream_available(self) -> bool:
        return False

    def start_stream(self, listener: Any) -> None:
        raise AssertionError("no stream on this server")

    def close(self) -> None:
        self.closed = True


async def test_the_poller_asks_who_the_account_is_once_and_counts_every_poll() -> None:
    account, store, counted = FakeAccount([mention(1), mention(2, author_id="1")]), FakeStore(), []
    poller = MentionPoller(account, store, report=[].append, counted=counted.append, clock=lambda: NOW)
    assert await poller() == 1, "the account's own status is not a message"
    assert store.cursors == {KEY: "2"}
    account.fail_after = len(account.calls)
    with pytest.raises(ConnectionError):
        await poller()
    assert counted == ["ok", "error"] and account.whoami_calls == 1
    assert store.outbox[0].producer == "intake_social"


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, event: str, **_: Any) -> None:
        self.lines.append(event)

    warning = info


async def test_the_intake_polls_until_stopped_without_a_stream_and_closes_the_account() -> None:
    account, store, counted, log = FakeAccount([mention(1)]), FakeStore(), [], Log()
    intake = MentionIntake(account, store, SocialSettings(mastodon_poll_interval_s=60), report=[].append,
                           counted=counted.append, clock=lambda: NOW, log=log, producer="intake_social")
    intake.start()
    await eventually(lambda: counted, timeout=5, interval=0.01, what="a poll counted")
    await asyncio.wait_for(intake.stop(), timeout=5)
    assert counted == ["ok"] and store.cursors == {KEY: "1"} and len(store.outbox) == 1
    assert "mastodon_polling" in log.lines and account.closed


def said(nid: int, words: str, language: str | None) -> dict[str, Any]:
    n = mention(nid)
    n["status"].update(content=f"<p>@<span>city311</span> {words}</p>", language=language)
    return n


async def test_a_mention_without_a_language_is_in_the_language_of_its_words_else_the_first_locale() -> None:
    server = FakeServer([said(1, "Nid-de-poule devant le 12 rue Elm", None), said(2, "12", None),
                         said(3, "Broken bench", "en")])
    store = FakeStore()
    await poll_mentions(deps(server, store, language="fr"), NOW)
    assert [e.payload(MessageReceived).language for e in store.outbox] == ["fr", "fr", "en"]


async def test_a_mention_that_writes_its_place_carries_it_as_its_address() -> None:
    # The notifier asks "Where is it?" only of a case with neither point nor address.
    server, store = FakeServer([said(1, "Broken bench at 1 Elm Street", "en"), said(2, "Broken bench", "en")]), FakeStore()
    await poll_mentions(deps(server, store), NOW)
    assert [e.payload(MessageReceived).address for e in store.outbox] == ["1 Elm Street", None]
