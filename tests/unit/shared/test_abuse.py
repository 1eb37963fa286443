"""shared.abuse: rate limits per client and per api_key answered 429 with Retry-After (Open311 JSON/XML or a
page), 413 for bodies over their limit (declared or streamed), and refusals counted and aggregated per
minute (docs/residents-and-insights.md, "Abuse protection")."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from starlette.types import Message

from shared.abuse import (
    BODY_TOO_LARGE,
    Abuse,
    Limit,
    RateLimits,
    Refusal,
    RefusalCount,
    RefusalRecorder,
    api_key_id,
    client_of,
    guard,
    install,
    limited,
)

NOW = datetime(2026, 3, 2, 14, 30, 15, tzinfo=UTC)
LIMITS = {Limit.REPORTS_PER_CLIENT: "3/minute", Limit.REPORTS_PER_API_KEY: "5/minute", Limit.UPLOADS: "2/minute",
          Limit.FOLLOWS: "2/minute", Limit.READS: "4/minute"}
ROUTES = {"POST /requests.{fmt}": (Limit.REPORTS_PER_CLIENT, Limit.REPORTS_PER_API_KEY),
          "POST /report": (Limit.REPORTS_PER_CLIENT,), "POST /upload": (Limit.UPLOADS,),
          "POST /cases/{sid}/follow": (Limit.FOLLOWS,)}


class ListStore:
    """A `RefusalStore` keeping every batch and every retention cut-off; `fail` makes the next writes raise."""

    def __init__(self) -> None:
        self.batches: list[Sequence[RefusalCount]] = []
        self.deletes: list[datetime] = []
        self.fail = False

    async def add(self, counts: Sequence[RefusalCount]) -> None:
        if self.fail:
            raise OSError("database down")
        self.batches.append(list(counts))

    async def delete_before(self, before: datetime) -> int:
        if self.fail:
            raise OSError("database down")
        self.deletes.append(before)
        return 0


def make_app(store: ListStore | None = None, *, max_body: int = 1000, max_upload: int = 5000) -> FastAPI:
    app = FastAPI()
    registry = CollectorRegistry()
    app.state.registry = registry
    recorder = RefusalRecorder(registry, store=store)
    install(app, Abuse(limits=RateLimits(LIMITS), recorder=recorder, clock=lambda: NOW, routes=ROUTES,
                       api_keys={"key-a", "key-b"}, uploads={"POST /upload"}, max_body_bytes=max_body,
                       max_upload_bytes=max_upload))
    public = APIRouter()

    @public.post("/requests.{fmt}")
    async def post_request(fmt: str, request: Request) -> Response:
        form = await request.form()
        return Response(f'[{{"token": "t-{form.get("description")}"}}]', media_type="application/json")

    @public.get("/services.{fmt}")
    async def services(fmt: str) -> Response:
        return Response("[]", media_type="application/json")

    @public.post("/report")
    async def report(request: Request) -> Response:
        form = await request.form()
        if form.get("website"):
            request.state.refusal_reason = "honeypot"
            return Response("refused", status_code=400)
        return Response("thanks")

    @public.post("/upload")
    async def upload(request: Request) -> Response:
        return Response(str(len(await request.body())))

    @public.post("/cases/{sid}/follow")
    async def follow(sid: str) -> Response:
        return Response("following")

    app.include_router(public, dependencies=[Depends(guard)])

    @app.get("/export.csv", dependencies=[Depends(limited(Limit.FOLLOWS))])
    async def export() -> Response:
        return Response("a,b")

    @app.post("/staff/echo")
    async def echo(request: Request) -> Response:
        return Response(str(len(await request.body())))

    return app


def client(app: FastAPI, host: str = "10.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 40000)), base_url="http://web")


def refused_total(app: FastAPI, route: str, reason: str) -> float:
    value = app.state.registry.get_sample_value("omni311_requests_refused_total", {"route": route, "reason": reason})
    return value or 0.0


def test_a_moving_window_gives_each_key_its_own_slots_and_says_how_long_to_wait() -> None:
    limits = RateLimits(LIMITS)
    for _ in range(3):
        assert limits.take([(Limit.REPORTS_PER_CLIENT, "a")]) is None
    over = limits.take([(Limit.REPORTS_PER_CLIENT, "a")])
    assert over is not None and over[0] is Limit.REPORTS_PER_CLIENT
    assert 58 <= over[1] <= 60, "the oldest slot frees about a minute after it was taken"
    assert limits.take([(Limit.REPORTS_PER_CLIENT, "b")]) is None, "another client has its own window"
    assert limits.take([(Limit.READS, "a")]) is None, "another limit has its own window"


def test_take_is_all_or_none() -> None:
    limits = RateLimits(LIMITS)
    for _ in range(2):
        assert limits.take([(Limit.FOLLOWS, "k")]) is None
    assert limits.take([(Limit.UPLOADS, "k"), (Limit.FOLLOWS, "k")]) is not None
    assert limits.wait(Limit.UPLOADS, "k") == 0
    assert limits.take([(Limit.UPLOADS, "k")]) is None and limits.take([(Limit.UPLOADS, "k")]) is None, \
        "the refused take left both upload slots free"


def test_a_limit_that_is_not_limits_notation_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="reads"):
        RateLimits(LIMITS | {Limit.READS: "300 a minute"})
    with pytest.raises(ValueError, match="uploads"):
        RateLimits({k: v for k, v in LIMITS.items() if k is not Limit.UPLOADS})


@pytest.mark.parametrize(("host", "key"), [
    ("203.0.113.7", "203.0.113.7"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("testclient", "testclient"),
])
def test_a_client_is_its_address_and_an_ipv6_client_its_64(host: str, key: str) -> None:
    assert client_of({"client": (host, 1)}) == key
    assert client_of({"client": None}) == "unknown"


async def test_an_open311_post_over_the_client_limit_gets_429_with_retry_after_in_json() -> None:
    app = make_app()
    async with client(app) as c:  # a key the service does not know: the address is the client
        for i in range(3):
            r = await c.post("/requests.json", data={"api_key": "nobody", "description": str(i)})
            assert r.status_code == 200, r.text
        r = await c.post("/requests.json", data={"api_key": "nobody", "description": "3"})
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/json")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    [err] = r.json()
    assert err["code"] == 429
    assert "too many requests" in err["description"] and "3 per 1 minute per client" in err["description"]
    assert refused_total(app, "POST /requests.{fmt}", "reports_per_client") == 1


async def test_an_open311_429_in_xml_is_an_error_list() -> None:
    app = make_app()
    async with client(app) as c:
        for _ in range(3):
            assert (await c.post("/requests.xml", data={"api_key": "nobody"})).status_code == 200
        r = await c.post("/requests.xml", data={"api_key": "nobody"})
    assert r.status_code == 429 and r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "errors"
    assert root.findtext("error/code") == "429"
    assert "retry in" in (root.findtext("error/description") or "")
    assert r.headers["retry-after"].isdigit()


async def test_a_known_api_key_is_its_own_client_however_many_reports_one_address_sends() -> None:
    # An app's server or a city's back office posts every report from one address: its key is the client.
    app = make_app()
    async with client(app, "10.0.5.1") as c:
        answers = [(await c.post("/requests.json", data={"api_key": "key-a"})).status_code for _ in range(6)]
    assert answers == [200] * 5 + [429], "5/minute for key-a, although the address's limit is 3"
    assert refused_total(app, "POST /requests.{fmt}", "reports_per_client") == 0


async def test_one_api_key_is_limited_across_addresses_and_another_key_is_not() -> None:
    app = make_app()
    hosts = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    answers = []
    for i in range(7):
        async with client(app, hosts[i % 3]) as c:
            answers.append((await c.post("/requests.json", data={"api_key": "key-a"})).status_code)
    assert answers == [200] * 5 + [429] * 2, "5/minute per api_key, although no address reached 3"
    async with client(app, "10.0.0.9") as c:
        assert (await c.post("/requests.json", data={"api_key": "key-b"})).status_code == 200
        # An unknown key is not an api_key to count (the route refuses it); the address still counts.
        assert (await c.post("/requests.json", data={"api_key": "nobody"})).status_code == 200
    assert refused_total(app, "POST /requests.{fmt}", "reports_per_api_key") == 2


async def test_a_refused_api_key_request_takes_no_client_slot() -> None:
    app = make_app()
    for host in ("10.0.1.1", "10.0.1.2"):
        async with client(app, host) as c:
            for _ in range(2):
                assert (await c.post("/requests.json", data={"api_key": "key-a"})).status_code == 200
    async with client(app, "10.0.1.3") as c:
        assert (await c.post("/requests.json", data={"api_key": "key-a"})).status_code == 200  # 5th for key-a
        assert (await c.post("/requests.json", data={"api_key": "key-a"})).status_code == 429
        assert (await c.post("/requests.json", data={"api_key": "key-b"})).status_code == 200
        assert (await c.post("/requests.json", data={"api_key": "key-b"})).status_code == 200, \
            "the refused key-a request took none of this address's 3 slots"


async def test_a_portal_429_is_a_page_in_the_residents_language() -> None:
    app = make_app()
    async with client(app) as c:
        for _ in range(3):
            assert (await c.post("/report", data={"description": "x"})).status_code == 200
        r = await c.post("/report", data={"description": "x"}, headers={"Accept-Language": "fr-CA,fr;q=0.9"})
        en = await c.post("/report?lang=en", data={"description": "x"})
        as_json = await c.post("/report", data={"x": "1"}, headers={"Accept": "application/json"})
    assert r.status_code == 429 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="fr">' in r.text and "Trop de demandes" in r.text and "réessayez dans" in r.text
    assert int(r.headers["retry-after"]) >= 1
    assert en.status_code == 429 and "Too many requests" in en.text
    assert as_json.status_code == 429 and "too many requests" in as_json.json()["detail"]


async def test_reads_follows_and_uploads_each_have_their_limit() -> None:
    app = make_app()
    async with client(app) as c:
        reads = [(await c.get("/services.json")).status_code for _ in range(5)]
        follows = [(await c.post("/cases/101/follow")).status_code for _ in range(3)]
        uploads = [(await c.post("/upload", content=b"x")).status_code for _ in range(3)]
        staff = [(await c.post("/staff/echo", content=b"x")).status_code for _ in range(6)]
    assert reads == [200] * 4 + [429]
    assert follows == [200, 200, 429]
    assert uploads == [200, 200, 429]
    assert staff == [200] * 6, "a route outside the guarded routers is not limited"
    async with client(app, "10.0.0.2") as c:
        exports = [(await c.get("/export.csv")).status_code for _ in range(3)]
    assert exports == [200, 200, 429], "limited() takes the limits it names, not the reads of a GET"
    assert refused_total(app, "POST /cases/{sid}/follow", "follows") == 1, "labelled by template, not path"


async def test_a_declared_body_over_the_limit_gets_413_before_the_route_reads_it() -> None:
    app = make_app()
    async with client(app) as c:
        r = await c.post("/requests.json", content=b"x" * 1001,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        page = await c.post("/report", content=b"x" * 1001)
        fits = await c.post("/staff/echo", content=b"x" * 1000)
    assert r.status_code == 413 and r.json()[0]["code"] == 413 and "1000 bytes" in r.json()[0]["description"]
    assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")
    assert fits.status_code == 200 and fits.text == "1000"
    assert refused_total(app, "POST /requests.{fmt}", BODY_TOO_LARGE) == 1
    assert refused_total(app, "POST /report", BODY_TOO_LARGE) == 1


async def _chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"y" * size


async def test_a_chunked_body_is_counted_while_it_streams() -> None:
    app = make_app()
    async with client(app) as c:
        r = await c.post("/staff/echo", content=_chunks(11, 100))
        ok = await c.post("/staff/echo", content=_chunks(10, 100))
        form = await c.post("/requests.json", content=_chunks(20, 100),
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413 and "content-length" not in r.request.headers
    assert ok.status_code == 200 and ok.text == "1000"
    assert form.status_code == 413, "FastAPI's 400 for a body it could not parse is replaced by the 413"
    assert form.json()[0]["code"] == 413
    assert refused_total(app, "POST /staff/echo", BODY_TOO_LARGE) == 1


async def test_a_chunked_form_whose_last_chunk_passes_the_limit_gets_413_not_a_hang() -> None:
    """A server such as uvicorn gives the body once, its last chunk marked `more_body: False`, then waits for
    the client's disconnect: reading the body a second time never returns. The api_key look-up must let
    `BodyTooLarge` through instead of leaving the route to read again."""
    app = make_app()
    chunks = [b"api_key=key-a&description=" + b"y" * 700, b"y" * 300]
    sent: list[Message] = []
    done = asyncio.Event()

    async def receive() -> Message:
        if chunks:
            body = chunks.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(chunks)}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/requests.json", "raw_path": b"/requests.json", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"web"), (b"content-type", b"application/x-www-form-urlencoded"),
                         (b"transfer-encoding", b"chunked")],
             "client": ("10.0.0.9", 40000), "server": ("web", 80)}
    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413
    assert refused_total(app, "POST /requests.{fmt}", BODY_TOO_LARGE) == 1


async def test_the_rest_of_a_refused_chunked_body_is_read_before_the_413_so_the_client_can_read_it() -> None:
    """Answered (and the connection closed) while the client still sends, the 413 is lost to a connection reset
    on the client's side; a bounded rest of the body is read and dropped first."""
    app = make_app()
    chunks = [b"api_key=key-a&description=" + b"y" * 700, b"y" * 400, b"y" * 400, b"y" * 400]
    seen: list[str] = []

    async def receive() -> Message:
        if chunks:
            seen.append(f"chunk {4 - len(chunks)}")
            body = chunks.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(chunks)}
        await asyncio.sleep(60)  # a server waits for the disconnect once the body is in
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        seen.append(message["type"] + (f" {message['status']}" if "status" in message else ""))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/staff/echo", "raw_path": b"/staff/echo", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"web"), (b"transfer-encoding", b"chunked")],
             "client": ("10.0.0.9", 40000), "server": ("web", 80)}
    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    assert seen[:5] == ["chunk 0", "chunk 1", "chunk 2", "chunk 3", "http.response.start 413"]


async def test_an_upload_route_takes_a_multipart_file_up_to_the_upload_limit() -> None:
    app = make_app()
    async with client(app) as c:
        photo = await c.post("/upload", files={"photo": ("p.jpg", b"z" * 4000, "image/jpeg")})
        too_big = await c.post("/upload", files={"photo": ("p.jpg", b"z" * 6100, "image/jpeg")})
    assert photo.status_code == 200 and int(photo.text) > 4000
    assert too_big.status_code == 413
    app = make_app()
    async with client(app) as c:
        raw = await c.post("/upload", content=b"z" * 4000, headers={"Content-Type": "application/octet-stream"})
    assert raw.status_code == 413, "only a multipart body may be upload-sized"


def test_an_upload_route_may_take_several_files() -> None:
    abuse = Abuse(limits=RateLimits(LIMITS), recorder=RefusalRecorder(CollectorRegistry()), clock=lambda: NOW,
                  uploads={"POST /report": 5, "POST /upload": 1}, max_body_bytes=1000, max_upload_bytes=5000)
    multipart = [(b"content-type", b"multipart/form-data; boundary=x")]
    assert abuse.body_limit({"method": "POST", "path": "/report", "headers": multipart}) == 26_000
    assert abuse.body_limit({"method": "POST", "path": "/upload", "headers": multipart}) == 6_000
    assert abuse.body_limit({"method": "POST", "path": "/report", "headers": []}) == 1000
    assert abuse.body_limit({"method": "POST", "path": "/elsewhere", "headers": multipart}) == 1000


async def test_a_spam_guard_refusal_marked_on_the_request_is_counted() -> None:
    store = ListStore()
    app = make_app(store)
    async with client(app, "198.51.100.4") as c:
        r = await c.post("/report", data={"website": "http://spam.example"})
    assert r.status_code == 400
    assert refused_total(app, "POST /report", "honeypot") == 1
    assert await app.state.abuse.recorder.flush() == 1
    [[row]] = store.batches
    assert (row.client, row.route, row.reason, row.count, row.api_key) == (
        "198.51.100.4", "POST /report", "honeypot", 1, "")


def _refusal(at: datetime, client: str = "10.0.0.1", reason: str = "reports_per_client",
             api_key: str | None = None) -> Refusal:
    return Refusal(at=at, client=client, api_key=api_key, route="POST /requests.{fmt}", reason=reason)


async def test_a_flood_is_one_row_per_minute_client_key_route_and_reason() -> None:
    store = ListStore()
    rec = RefusalRecorder(CollectorRegistry(), store=store)
    for i in range(500):
        rec.refused(_refusal(NOW + timedelta(milliseconds=i)))
    rec.refused(_refusal(NOW + timedelta(minutes=1)))
    rec.refused(_refusal(NOW, api_key=api_key_id("key-a"), reason="reports_per_api_key"))
    assert await rec.flush() == 3
    rows = store.batches[0]
    first = [r for r in rows if r.minute == datetime(2026, 3, 2, 14, 30, tzinfo=UTC) and r.api_key == ""][0]
    assert first.count == 500 and first.last_at == NOW + timedelta(milliseconds=499)
    assert {r.api_key for r in rows} == {"", api_key_id("key-a")}
    assert api_key_id("key-a") != "key-a" and len(api_key_id("key-a")) == 12
    assert await rec.flush() == 0 and rec.pending() == []


async def test_counts_a_store_could_not_take_are_written_by_the_next_flush() -> None:
    store = ListStore()
    rec = RefusalRecorder(CollectorRegistry(), store=store)
    rec.refused(_refusal(NOW))
    store.fail = True
    assert await rec.flush() == 0
    rec.refused(_refusal(NOW + timedelta(seconds=5)))
    store.fail = False
    assert await rec.flush() == 1
    assert store.batches[0][0].count == 2


async def test_past_max_rows_new_clients_are_counted_under_one_row() -> None:
    rec = RefusalRecorder(CollectorRegistry(), max_rows=3)
    for i in range(10):
        rec.refused(_refusal(NOW, client=f"10.9.0.{i}"))
    rows = rec.pending()
    assert len(rows) == 4 and sum(r.count for r in rows) == 10
    assert [r.count for r in rows if r.client == "*"] == [7]


async def test_stop_writes_what_is_pending() -> None:
    store = ListStore()
    rec = RefusalRecorder(CollectorRegistry(), store=store, flush_interval_s=60)
    await rec.start()
    rec.refused(_refusal(NOW))
    await rec.stop()
    assert [r.count for batch in store.batches for r in batch] == [1]


async def test_with_a_retention_the_first_flush_and_then_one_an_hour_delete_the_expired_rows() -> None:
    store, now = ListStore(), [NOW]
    rec = RefusalRecorder(CollectorRegistry(), store=store, retention=timedelta(days=30), clock=lambda: now[0])
    assert await rec.flush() == 0, "nothing pending, yet the expired rows go"
    for minutes in (1, 30, 59):
        now[0] = NOW + timedelta(minutes=minutes)
        rec.refused(_refusal(now[0]))
        assert await rec.flush() == 1
    now[0] = NOW + timedelta(hours=1)
    await rec.flush()
    assert store.deletes == [NOW - timedelta(days=30), NOW + timedelta(hours=1) - timedelta(days=30)]


async def test_a_failed_delete_is_tried_again_at_the_next_flush() -> None:
    store = ListStore()
    rec = RefusalRecorder(CollectorRegistry(), store=store, retention=timedelta(days=1), clock=lambda: NOW)
    store.fail = True
    await rec.flush()
    store.fail = False
    await rec.flush()
    await rec.flush()
    assert store.deletes == [NOW - timedelta(days=1)]


async def test_without_a_retention_nothing_is_deleted() -> None:
    store = ListStore()
    rec = RefusalRecorder(CollectorRegistry(), store=store, clock=lambda: NOW)
    rec.refused(_refusal(NOW))
    assert await rec.flush() == 1
    assert store.deletes == []
