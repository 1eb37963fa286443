"""intake_web's public routes under shared.abuse: the Open311 POST limited per client and per api_key (429,
Retry-After, Open311 errors in JSON and XML), bodies over the limit refused with 413, every public POST
listed with its limit, and what was refused read by supervisors and administrators only at
GET /staff/refusals (docs/residents-and-insights.md, "Abuse protection")."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from services.intake_web.app import create_app
from services.intake_web.entrypoints import abuse, open311
from shared.abuse import Limit, RefusalCount, api_key_id
from shared.auth import Role
from web_fakes import FakePublisher, bearer, demo, settings

NOW = datetime(2026, 3, 2, 14, 30, 15, tzinfo=UTC)
FORM = {"api_key": "key-a", "service_code": "graffiti", "lat": "45.42", "long": "-75.69",
        "description": "tag on the wall", "attribute[surface]": "wall"}


class FakeRefusalLog:
    """`adapters.refusals.RefusalLog` in memory: what was added, and `since` over it."""

    def __init__(self, rows: Sequence[RefusalCount] = ()) -> None:
        self.rows = list(rows)
        self.asked: list[tuple[datetime, int]] = []

    async def add(self, counts: Sequence[RefusalCount]) -> None:
        self.rows.extend(counts)

    async def delete_before(self, before: datetime) -> int:
        kept = [r for r in self.rows if r.minute >= before]
        deleted, self.rows = len(self.rows) - len(kept), kept
        return deleted

    async def since(self, since: datetime, limit: int) -> list[RefusalCount]:
        self.asked.append((since, limit))
        found = sorted((r for r in self.rows if r.last_at >= since), key=lambda r: r.minute, reverse=True)
        return found[:limit]


class NoCases:
    async def case_of_token(self, token: str, channel: str | None = None) -> None:
        return None

    async def request(self, sid: str) -> None:
        return None

    async def requests(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    async def earlier_cases(self, contact_key: str, *, token: str | None = None) -> list[Any]:
        return []


def make(log: FakeRefusalLog | None = None, **limits: Any) -> tuple[Any, FakePublisher, FakeRefusalLog]:
    publisher, log = FakePublisher(), log or FakeRefusalLog()
    s = settings(open311_api_keys=["key-a", "key-b"], **({"limit_reports_per_client": "3/minute",
                                                            "limit_reports_per_api_key": "4/minute",
                                                            "max_body_bytes": 4096} | limits))
    app = create_app(s, jurisdiction=demo(), publisher=publisher, case_api=NoCases(), clock=lambda: NOW,
                     refusals=log)
    return app, publisher, log


def web(app: Any, host: str = "10.1.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(host, 50000)),
                             base_url="http://intake-web.internal")


async def test_an_open311_client_over_its_limit_gets_429_and_nothing_is_published() -> None:
    app, publisher, _ = make()
    async with web(app) as c:
        codes = [(await c.post("/requests.json", data=FORM)).status_code for _ in range(4)]
        r = await c.post("/requests.json", data=FORM)
        x = await c.post("/requests.xml", data=FORM)
    assert codes == [200, 200, 200, 200], "key-a's 4 a minute, from one address (its key is the client)"
    assert len(publisher.published) == 4, "a refused report is not published"
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60
    assert r.json()[0]["code"] == 429 and "per api_key" in r.json()[0]["description"]
    assert x.status_code == 429 and x.headers["content-type"].startswith("text/xml")
    assert ET.fromstring(x.content).findtext("error/code") == "429" and x.headers["retry-after"].isdigit()


async def test_without_a_known_key_the_address_is_limited_and_nothing_is_published() -> None:
    app, publisher, _ = make()
    async with web(app, "10.1.0.9") as c:
        codes = [(await c.post("/requests.json", data=FORM | {"api_key": "guess"})).status_code for _ in range(4)]
    assert codes == [403, 403, 403, 429], "3 a minute per address for requests without a known key"
    assert publisher.published == []


async def test_another_key_still_posts_while_one_is_spent() -> None:
    app, publisher, _ = make()
    async with web(app, "10.1.0.1") as a, web(app, "10.1.0.2") as b, web(app, "10.1.0.3") as other_key:
        assert [(await a.post("/requests.json", data=FORM)).status_code for _ in range(3)] == [200, 200, 200]
        assert (await b.post("/requests.json", data=FORM)).status_code == 200, "4th slot of key-a"
        spent = await b.post("/requests.json", data=FORM)
        assert (await other_key.post("/requests.json", data=FORM | {"api_key": "key-b"})).status_code == 200
    assert spent.status_code == 429 and "per api_key" in spent.json()[0]["description"]
    assert len(publisher.published) == 5


async def test_a_body_over_max_body_bytes_gets_413_and_is_counted() -> None:
    app, publisher, log = make()
    async with web(app) as c:
        r = await c.post("/requests.json", data=FORM | {"description": "x" * 5000})
        metrics = await c.get("/metrics")
    assert r.status_code == 413 and r.json()[0]["code"] == 413
    assert publisher.published == []
    assert 'omni311_requests_refused_total{reason="body_too_large",route="POST /requests.{fmt}"} 1.0' in metrics.text
    await app.state.abuse.recorder.flush()
    [row] = log.rows
    assert (row.client, row.route, row.reason, row.count) == ("10.1.0.1", "POST /requests.{fmt}", "body_too_large", 1)


async def test_the_portal_form_may_carry_its_photos_and_an_open311_post_one_media_file() -> None:
    app, _, _ = make(max_upload_bytes=20_000)
    photos = [("photo", (f"p{i}.jpg", b"j" * 15_000, "image/jpeg")) for i in range(3)]
    media = [("media", ("m.jpg", b"j" * 15_000, "image/jpeg"))]
    async with web(app) as c:
        report = await c.post("/report", data={"description": "light out"}, files=photos)
        too_many = await c.post("/report", data={"description": "light out"}, files=photos * 3)
        open311_file = await c.post("/requests.json", data=FORM, files=media)
        open311_files = await c.post("/requests.json", data=FORM, files=media * 2)
    assert report.status_code != 413, "5 photos of 20 000 bytes may come with the form; the portal judges it"
    assert too_many.status_code == 413 and too_many.headers["content-type"].startswith("text/html")
    assert open311_file.status_code != 413, "POST /requests may carry one media file; the route judges it"
    assert open311_files.status_code == 413, "one file of 20 000 bytes at most (and 4096 bytes of form)"


async def test_open311_reads_take_the_read_limit() -> None:
    app, _, _ = make(limit_reads_per_client="2/minute")
    async with web(app) as c:
        codes = [(await c.get("/services.json")).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_every_public_post_takes_a_limit() -> None:
    """The routers included with `abuse.PUBLIC`: each POST they declare is in `PUBLIC_LIMITS`."""
    from services.intake_web.entrypoints import portal, profile_link

    routers = [open311.router, profile_link.router, *(getattr(portal, n) for n in dir(portal) if n.endswith("router"))]
    posts = {f"POST {r.path}" for router in routers for r in router.routes
             if isinstance(r, APIRoute) and "POST" in r.methods}
    assert "POST /requests.{fmt}" in posts
    assert posts <= set(abuse.PUBLIC_LIMITS), posts - set(abuse.PUBLIC_LIMITS)
    assert abuse.PUBLIC_LIMITS["POST /requests.{fmt}"] == (Limit.REPORTS_PER_CLIENT, Limit.REPORTS_PER_API_KEY)
    assert "POST /profile/link" in posts and abuse.PUBLIC_LIMITS["POST /profile/link"] == (Limit.FOLLOWS,)


ROWS = [RefusalCount(minute=NOW.replace(second=0) - timedelta(minutes=m), client="10.9.9.9", api_key=api_key_id("key-a"),
                     route="POST /requests.{fmt}", reason="reports_per_client", count=40 + m,
                     last_at=NOW - timedelta(minutes=m)) for m in (0, 5, 60 * 30)]


@pytest.mark.parametrize(("role", "status"), [
    (None, 401), (Role.DEPARTMENT_STAFF, 403), (Role.CALL_AGENT, 403), (Role.SUPERVISOR, 200),
    (Role.ADMINISTRATOR, 200),
])
async def test_staff_refusals_are_read_by_supervisors_and_administrators_only(role: Role | None, status: int) -> None:
    app, _, log = make(FakeRefusalLog(ROWS))
    headers = bearer(role, subject="someone") if role else {}
    async with web(app) as c:
        r = await c.get("/staff/refusals", headers=headers)
    assert r.status_code == status, r.text
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")
    if status != 200:
        assert log.asked == [], "nothing is read for a caller who may not see it"
        return
    body = r.json()
    assert body["since"] == (NOW - timedelta(hours=24)).isoformat() and body["truncated"] is False
    assert [row["count"] for row in body["refusals"]] == [40, 45], "the last 24 hours, newest first"
    assert body["refusals"][0] == {"minute": "2026-03-02T14:30:00+00:00", "client": "10.9.9.9",
                                   "api_key": api_key_id("key-a"), "route": "POST /requests.{fmt}",
                                   "reason": "reports_per_client", "count": 40,
                                   "last_at": "2026-03-02T14:30:15+00:00"}


@pytest.mark.parametrize("since", ["yesterday", "2026-03-02T14:00:00", "9999-12-31T23:59:59-05:00"])
async def test_a_since_that_is_not_an_instant_with_an_offset_is_400(since: str) -> None:
    app, _, log = make(FakeRefusalLog(ROWS))
    async with web(app) as c:
        r = await c.get("/staff/refusals", params={"since": since}, headers=bearer(Role.SUPERVISOR))
    assert r.status_code == 400 and "since" in r.json()["detail"]
    assert log.asked == []


async def test_since_and_limit_choose_the_rows_and_say_when_more_are_left() -> None:
    app, _, log = make(FakeRefusalLog(ROWS))
    async with web(app) as c:
        r = await c.get("/staff/refusals", params={"since": "2026-03-01T00:00:00Z", "limit": "2"},
                        headers=bearer(Role.ADMINISTRATOR))
        too_many = await c.get("/staff/refusals", params={"limit": "5001"}, headers=bearer(Role.ADMINISTRATOR))
    assert r.status_code == 200
    assert [row["count"] for row in r.json()["refusals"]] == [40, 45] and r.json()["truncated"] is True
    assert log.asked[0] == (datetime(2026, 3, 1, tzinfo=UTC), 3)
    assert too_many.status_code == 422
