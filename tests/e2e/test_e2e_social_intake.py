"""End to end on real Kafka and PostgreSQL: intake_social runs as its own process next to the demo stack.
A signed Messenger message opens a case, and the same mid delivered again is still one case; a Mastodon
mention served by a local fake instance (read by the real Mastodon.py client, woken by its user stream)
opens a case, and the persisted cursor means a restarted intake_social reads on from there, not from
the start."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from shared.auth import Role
from support.data import shared_data
from support.process import ExtraService
from support.stack import Stack
from support.wait import eventually

APP_SECRET = "e2e-app-secret"
PAGE_ID = "1234567890"
CITY_ACCOUNT_ID = "110000000000000001"


class FakeMastodon:
    """A Mastodon instance for the city's account: mention notifications (newest first, honouring
    since_id/max_id/limit), verify_credentials, and the user stream (server-sent events: a heartbeat,
    and a `notification` event for each mention added). Records every notifications query."""

    def __init__(self) -> None:
        self.mentions: list[dict[str, Any]] = []
        self.queries: list[dict[str, list[str]]] = []
        self.streams: list[queue.Queue[dict[str, Any]]] = []
        self.stream_connections = 0
        self.lock = threading.Lock()
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if self.headers.get("Authorization") != "Bearer city-token":
                    return self.reply(401, {"error": "The access token is invalid"})
                if url.path == "/api/v1/streaming/health":
                    return self.reply(200, "OK")
                if url.path == "/api/v1/streaming/user":
                    return self.stream()
                if url.path == "/api/v1/accounts/verify_credentials":
                    return self.reply(200, {"id": CITY_ACCOUNT_ID, "username": "city311", "acct": "city311"})
                if url.path == "/api/v1/notifications":
                    with outer.lock:
                        outer.queries.append(query)
                        items = sorted(outer.mentions, key=lambda n: int(n["id"]), reverse=True)
                    assert query.get("types[]") == ["mention"]
                    if "since_id" in query:
                        items = [n for n in items if int(n["id"]) > int(query["since_id"][0])]
                    if "max_id" in query:
                        items = [n for n in items if int(n["id"]) < int(query["max_id"][0])]
                    return self.reply(200, items[: int(query.get("limit", ["40"])[0])])
                return self.reply(404, {"error": "Record not found"})

            def stream(self) -> None:
                events: queue.Queue[dict[str, Any]] = queue.Queue()
                with outer.lock:
                    outer.streams.append(events)
                    outer.stream_connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    while not outer.closing.is_set():
                        try:
                            n = events.get(timeout=0.2)
                            chunk = f"event: notification\ndata: {json.dumps(n)}\n\n"
                        except queue.Empty:
                            chunk = ":thump\n"
                        self.wfile.write(chunk.encode())
                        self.wfile.flush()
                except OSError:
                    pass  # the client went away (intake_social stopped)
                finally:
                    with outer.lock:
                        outer.streams.remove(events)

            def reply(self, status: int, body: Any) -> None:
                raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def mention(self, nid: int, status_id: str, html: str, media: list[dict[str, Any]] | None = None) -> None:
        """Add a mention of @city311, shaped as the real one recorded by Mastodon.py's test suite."""
        path = shared_data() / "meta_social" / "mastodon" / "mastodonpy_notifications_mentions_only_response.json"
        (n,) = json.loads(path.read_text("utf-8"))
        n = copy.deepcopy(n)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        n.update(id=str(nid), created_at=now)
        n["status"].update(id=status_id, created_at=now, content=html, media_attachments=media or [],
                           mentions=[{"id": CITY_ACCOUNT_ID, "username": "city311", "acct": "city311",
                                      "url": f"{self.url}/@city311"}])
        with self.lock:
            self.mentions.append(n)
            for events in self.streams:
                events.put(n)

    def connections(self) -> int:
        with self.lock:
            return self.stream_connections

    def since_ids(self) -> list[str | None]:
        with self.lock:
            return [q.get("since_id", [None])[0] for q in self.queries]


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    fake = FakeMastodon()
    threading.Thread(target=fake.httpd.serve_forever, daemon=True).start()
    try:
        yield fake
    finally:
        fake.closing.set()
        fake.httpd.shutdown()
        fake.httpd.server_close()


def SocialProcess(stack: Stack, mastodon: FakeMastodon) -> ExtraService:  # noqa: N802
    """intake_social as its own process, reading mentions from the fake Mastodon instance."""
    return ExtraService(stack, "intake_social", {
        "OMNI311_META_APP_SECRET": APP_SECRET,
        "OMNI311_META_VERIFY_TOKEN": "e2e-verify",
        "OMNI311_META_PAGE_IDS": json.dumps([PAGE_ID]),
        "OMNI311_MASTODON_API_BASE_URL": mastodon.url,
        "OMNI311_MASTODON_ACCESS_TOKEN": "city-token",
        # Polls this rare leave the stream as the only way to hear of a mention within the test.
        "OMNI311_MASTODON_POLL_INTERVAL_S": "60",
        "OMNI311_MASTODON_STREAM_POLL_INTERVAL_S": "60",
    })


@pytest.fixture
async def social(stack: Stack, mastodon: FakeMastodon) -> Any:
    async with SocialProcess(stack, mastodon).started() as proc:
        yield proc


def messenger_delivery(*mids: str, sender: str, text: str) -> bytes:
    """A Messenger delivery as Meta sends it (non-ASCII escaped), one entry per mid."""
    ts = int(time.time() * 1000)
    entries = [{"id": PAGE_ID, "time": ts, "messaging": [{
        "sender": {"id": sender}, "recipient": {"id": PAGE_ID}, "timestamp": ts,
        "message": {"mid": mid, "text": text}}]} for mid in mids]
    return json.dumps({"object": "page", "entry": entries}).encode()


async def deliver(client: httpx.AsyncClient, body: bytes) -> dict[str, int]:
    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    r = await client.post("/webhooks/meta", content=body,
                          headers={"content-type": "application/json", "X-Hub-Signature-256": signature})
    assert r.status_code == 200, r.text
    return r.json()["received"]


async def test_social_messages_and_mentions_open_one_case_each(stack: Stack, social: SocialProcess,
                                                               mastodon: FakeMastodon, test_issuer) -> None:
    started = time.monotonic()
    sender = str(uuid.uuid4().int % 10**16)
    mid = f"m.e2e.{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=social.url, timeout=10) as meta, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api:

        async def case_of(channel: str, message_id: str) -> str | None:
            r = await case_api.get(f"/cases/tokens/{message_id}", params={"channel": channel})
            return r.json()["service_request_id"]

        # --- Messenger: a signed message opens a case ----------------------------------------------------
        tampered = messenger_delivery(mid, sender=sender, text="x")
        r = await meta.post("/webhooks/meta", content=tampered, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
        assert r.status_code == 403
        text = "Énorme nid-de-poule devant l'école, rue Principale"
        assert await deliver(meta, messenger_delivery(mid, sender=sender, text=text)) == {"message": 1}
        number = await eventually(lambda: case_of("messenger", mid), timeout=20, what="Messenger case opened")
        req = (await case_api.get(f"/cases/requests/{number}")).json()
        assert req["description"] == text
        timeline = (await case_api.get(f"/cases/{number}/timeline")).json()
        assert timeline["channel"] == "messenger" and timeline["timeline"][0]["kind"] == "opened"

        # --- the same mid again: a Meta retry, and twice in one delivery --------------------------------
        assert await deliver(meta, messenger_delivery(mid, sender=sender, text=text)) == {"message": 1}
        assert await deliver(meta, messenger_delivery(mid, mid, sender=sender, text=text)) == {
            "message": 1, "ignored": 1}
        # A later message of the same sender is ordered after the copies (same contact key, same
        # partition): once it has its case, every copy has been handled.
        later = f"m.e2e.{uuid.uuid4().hex}"
        await deliver(meta, messenger_delivery(later, sender=sender, text="Also a broken streetlight nearby"))
        await eventually(lambda: case_of("messenger", later), timeout=20, what="later Messenger case")
        conn = await stack.case_db()
        try:
            copies = await conn.fetchval("SELECT count(*) FROM messages WHERE channel = 'messenger' "
                                         "AND channel_message_id = $1", mid)
            cases = await conn.fetchval("SELECT count(*) FROM cases c JOIN messages m USING (case_id) "
                                        "WHERE m.channel_message_id = $1", mid)
        finally:
            await conn.close()
        assert (copies, cases) == (1, 1)

        # --- Mastodon: a mention opens a case ------------------------------------------------------------
        await eventually(lambda: mastodon.connections() >= 1, timeout=10, what="user stream opened")
        status_id = f"{int(time.time() * 1000)}001"
        mastodon.mention(101, status_id,
                         '<p><span class="h-card"><a href="' + mastodon.url + '/@city311" class="u-url mention">'
                         '@<span>city311</span></a></span> Streetlight out on Elm St &amp; 3rd</p>',
                         media=[{"id": "1", "type": "image", "url": mastodon.url + "/media/elm.jpg",
                                 "description": "dark street corner"}])
        m_number = await eventually(lambda: case_of("mastodon", status_id), timeout=20,
                                    what="Mastodon case opened")
        m_req = (await case_api.get(f"/cases/requests/{m_number}")).json()
        assert m_req["description"] == "Streetlight out on Elm St & 3rd\n\n[image: dark street corner]"
        assert m_req["media_url"] == mastodon.url + "/media/elm.jpg"

        # --- the cursor is in intake_social's schema; a restart reads on from it -------------------------
        pg = await asyncpg.connect(stack.dsn)
        try:
            cursors = await pg.fetch('SELECT source, cursor FROM "intake_social".poll_cursors')
        finally:
            await pg.close()
        assert [(r["source"], r["cursor"]) for r in cursors] == [
            (f"mastodon:{urlsplit(mastodon.url).netloc}:{CITY_ACCOUNT_ID}", "101")]
        social.stop()
        asked_before, connected_before = len(mastodon.since_ids()), mastodon.connections()
        social.start()
        await social.ready()
        await eventually(lambda: mastodon.since_ids()[asked_before:], timeout=10, what="polled after restart")
        assert mastodon.since_ids()[asked_before] == "101"
        await eventually(lambda: mastodon.connections() > connected_before, timeout=10, what="stream reopened")
        second_status = f"{int(time.time() * 1000)}002"
        mastodon.mention(102, second_status, "<p>@city311 Graffiti on the library wall</p>")
        await eventually(lambda: case_of("mastodon", second_status), timeout=20, what="second Mastodon case")
        conn = await stack.case_db()
        try:
            first_copies = await conn.fetchval("SELECT count(*) FROM messages WHERE channel = 'mastodon' "
                                               "AND channel_message_id = $1", status_id)
        finally:
            await conn.close()
        assert first_copies == 1
    assert time.monotonic() - started < 30


async def test_follow_ups_join_the_open_case_and_an_unsent_message_leaves_it(stack: Stack, social: SocialProcess,
                                                                             test_issuer) -> None:
    """Issue 12, kinds 2 and 6: after a Messenger report, "ok thanks" and "it's getting bigger..." join its
    case (one case, the report and two messages); "NEW ..." opens another; an unsent follow-up loses its
    words on the case; a WhatsApp order is kept raw for supervisors, not a case."""
    started = time.monotonic()
    sender = str(uuid.uuid4().int % 10**16)
    report, thanks, bigger, new = (f"m.e2e.{uuid.uuid4().hex}" for _ in range(4))
    async with httpx.AsyncClient(base_url=social.url, timeout=10) as meta, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api:

        async def case_of(message_id: str) -> str | None:
            r = await case_api.get(f"/cases/tokens/{message_id}", params={"channel": "messenger"})
            return r.json()["service_request_id"]

        await deliver(meta, messenger_delivery(report, sender=sender,
                                               text="Deep pothole in front of 110 Laurier Ave W"))
        number = await eventually(lambda: case_of(report), timeout=20, what="report's case opened")
        await deliver(meta, messenger_delivery(thanks, sender=sender, text="ok thanks"))
        await deliver(meta, messenger_delivery(bigger, sender=sender,
                                               text="it's getting bigger, a car lost a tyre in it"))
        await deliver(meta, messenger_delivery(new, sender=sender, text="NEW graffiti on the library wall"))
        assert await eventually(lambda: case_of(bigger), timeout=20, what="follow-up threaded") == number
        assert await case_of(thanks) == number
        other = await eventually(lambda: case_of(new), timeout=20, what="NEW opened its own case")
        assert other != number
        conn = await stack.case_db()
        try:
            rows = await conn.fetch("SELECT m.channel_message_id, m.description FROM messages m JOIN cases c "
                                    "USING (case_id) WHERE c.service_request_id = $1 ORDER BY m.received_at, "
                                    "m.channel_message_id", number)
        finally:
            await conn.close()
        assert {r["channel_message_id"] for r in rows} == {report, thanks, bigger}
        assert (await case_api.get(f"/cases/requests/{number}")).json()["description"].startswith("Deep pothole")
        new_req = (await case_api.get(f"/cases/requests/{other}")).json()
        assert new_req["description"] == "graffiti on the library wall"

        # --- the resident unsends the follow-up: its words leave the case ---------------------------------
        ts = int(time.time() * 1000)
        unsend = json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": ts, "messaging": [{
            "sender": {"id": sender}, "recipient": {"id": PAGE_ID}, "timestamp": ts,
            "message": {"mid": bigger, "is_deleted": True}}]}]}).encode()
        assert await deliver(meta, unsend) == {"withdrawn": 1}

        async def bigger_text() -> str | None:
            conn = await stack.case_db()
            try:
                text = await conn.fetchval("SELECT description FROM messages WHERE channel = 'messenger' "
                                           "AND channel_message_id = $1", bigger)
            finally:
                await conn.close()
            return "gone" if text == "" else None

        await eventually(bigger_text, timeout=20, what="unsent follow-up emptied on the case")

        # --- a kind we cannot read: kept raw for supervisors, no case ---------------------------------------
        wamid = f"wamid.e2e.{uuid.uuid4().hex}"
        order = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
            "field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "99"},
                                           "messages": [{"from": "16135550100", "id": wamid, "type": "order",
                                                         "timestamp": str(int(time.time())),
                                                         "order": {"catalog_id": "1", "product_items": []}}]}}]}]})
        assert await deliver(meta, order.encode()) == {"unsupported": 1}
        assert (await meta.get("/problems")).status_code == 401
        listed = await meta.get("/problems", headers=test_issuer.headers(Role.SUPERVISOR))
        assert listed.status_code == 200
        assert [p["kind"] for p in listed.json() if p["message_id"] == wamid] == ["order"]
    assert time.monotonic() - started < 40


async def test_an_address_typed_after_a_chat_report_without_a_place_places_the_case(
        stack: Stack, social: SocialProcess, test_issuer) -> None:
    """Issue 12 (README walk): a Messenger report with no place is routed without one; the resident then
    types an address (intake_social: `address` + `attributes.completes_location_of`; the case service puts
    it on the case, `case.message_added`), and the router looks it up and routes the case again: the case
    gets the point of 1 Elm Street (the demo city's records) and a district."""
    started = time.monotonic()
    sender = str(uuid.uuid4().int % 10**16)
    report, answer = (f"m.e2e.{uuid.uuid4().hex}" for _ in range(2))
    async with httpx.AsyncClient(base_url=social.url, timeout=10) as meta, \
            httpx.AsyncClient(base_url=stack.url("case"),
                              headers=test_issuer.headers(Role.ADMINISTRATOR), timeout=10) as case_api:

        async def request(number: str) -> dict[str, Any]:
            return (await case_api.get(f"/cases/requests/{number}")).json()

        async def case_of(message_id: str) -> str | None:
            r = await case_api.get(f"/cases/tokens/{message_id}", params={"channel": "messenger"})
            return r.json()["service_request_id"]

        await deliver(meta, messenger_delivery(report, sender=sender, text="The bench is broken, please fix it"))
        number = await eventually(lambda: case_of(report), timeout=20, what="report's case opened")

        async def routed_without_place() -> dict[str, Any] | None:
            r = await request(number)
            return r if r.get("service_code") else None

        first = await eventually(routed_without_place, timeout=20, what="the report is routed")
        assert first["lat"] is None and first["long"] is None

        await deliver(meta, messenger_delivery(answer, sender=sender, text="1 Elm Street"))

        async def placed() -> dict[str, Any] | None:
            r = await request(number)
            return r if r["lat"] is not None else None

        located = await eventually(placed, timeout=20, what="the case is placed at the typed address")
        assert (located["lat"], located["long"]) == pytest.approx((45.42005, -75.715), abs=1e-4)
        assert await case_of(answer) == number
    assert time.monotonic() - started < 40
