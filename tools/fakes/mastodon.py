"""A fake Mastodon instance for `make run`: the city's account (``@city311``), its mention notifications
(read by intake_social's watcher) and the direct messages the notifier posts.

Routes (Mastodon API v1, ``Authorization: Bearer <the development token>``, else 401 as Mastodon
answers): ``GET /api/v1/accounts/verify_credentials``, ``GET /api/v1/notifications`` (mentions, newest
first, honouring ``since_id``, ``max_id`` and ``limit``), ``POST /api/v1/statuses`` (recorded as
``status``), ``GET /api/v1/instance``. No streaming API (``/api/v1/streaming/health`` is 404): the watcher
polls. ``POST /fake/mentions`` (``{"from": "user@server", "text": "..."}``, no token) adds a mention as a
resident's post would (what ``python -m tools.simulate mastodon`` does) and answers the notification.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import threading
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from tools.fakes.recording import Recorder, mount_common

CITY_ACCOUNT_ID = "110000000000000001"


def _account(account_id: str, acct: str, base_url: str) -> dict[str, Any]:
    username = acct.split("@", 1)[0]
    host = acct.split("@", 1)[1] if "@" in acct else None
    url = f"https://{host}/@{username}" if host else f"{base_url}/@{username}"
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"id": account_id, "username": username, "acct": acct, "display_name": "", "locked": False,
            "bot": False, "created_at": now, "note": "", "url": url, "avatar": "", "avatar_static": "",
            "header": "", "header_static": "", "followers_count": 0, "following_count": 0, "statuses_count": 0,
            "emojis": [], "fields": []}


def create_app(access_token: str, base_url: str) -> FastAPI:
    """The fake instance for the city's account (`access_token`); `base_url` is its own address."""
    app = FastAPI(title="fake Mastodon instance (development only)")
    rec = Recorder("mastodon")
    app.state.recorder = rec
    mount_common(app, rec)
    mentions: list[dict[str, Any]] = []
    lock = threading.Lock()
    # Snowflake-like ids that grow with time, so a restarted fake never reuses one a cursor has seen.
    ids = itertools.count(int(time.time() * 1000) << 16)
    city = _account(CITY_ACCOUNT_ID, "city311", base_url)

    def authorised(request: Request) -> bool:
        return request.headers.get("authorization", "") == f"Bearer {access_token}"

    def refused() -> Response:
        return JSONResponse({"error": "The access token is invalid"}, status_code=401)

    @app.get("/api/v1/accounts/verify_credentials")
    async def verify_credentials(request: Request) -> Response:
        return JSONResponse(city) if authorised(request) else refused()

    @app.get("/api/v1/instance")
    async def instance() -> dict[str, Any]:
        return {"uri": base_url.split("://", 1)[1], "title": "fake Mastodon (development only)",
                "version": "4.2.0", "urls": {}, "stats": {}, "languages": ["en"]}

    @app.get("/api/v1/notifications")
    async def notifications(request: Request, since_id: int | None = None, max_id: int | None = None,
                            limit: int = 40) -> Response:
        if not authorised(request):
            return refused()
        with lock:
            items = sorted(mentions, key=lambda n: int(n["id"]), reverse=True)
        items = [n for n in items if (since_id is None or int(n["id"]) > since_id)
                 and (max_id is None or int(n["id"]) < max_id)]
        return JSONResponse(items[: max(1, min(limit, 80))])

    @app.post("/api/v1/statuses")
    async def post_status(request: Request) -> Response:
        if not authorised(request):
            return refused()
        if "json" in request.headers.get("content-type", ""):
            sent = await request.json()
        else:
            sent = {k: str(v) for k, v in (await request.form()).items()}
        status_id = str(next(ids))
        rec.record("status", id=status_id, status=sent.get("status"), visibility=sent.get("visibility"),
                   in_reply_to_id=sent.get("in_reply_to_id"))
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return JSONResponse({"id": status_id, "created_at": now, "content": html.escape(str(sent.get("status"))),
                             "visibility": sent.get("visibility") or "public", "in_reply_to_id":
                             sent.get("in_reply_to_id"), "account": city, "media_attachments": [], "mentions": [],
                             "tags": [], "emojis": [], "uri": f"{base_url}/statuses/{status_id}",
                             "url": f"{base_url}/@city311/{status_id}", "spoiler_text": "", "sensitive": False,
                             "reblogs_count": 0, "favourites_count": 0, "replies_count": 0})

    @app.post("/fake/mentions")
    async def add_mention(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not str(body.get("text") or "").strip() or "@" not in str(
                body.get("from") or ""):
            return JSONResponse({"error": 'want {"from": "user@server", "text": "..."}'}, status_code=400)
        acct = str(body["from"]).lstrip("@")
        nid, status_id = str(next(ids)), str(next(ids))
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        author = _account(str(int(hashlib.sha256(acct.encode()).hexdigest()[:14], 16)), acct, base_url)
        content = (f'<p><span class="h-card"><a href="{city["url"]}" class="u-url mention">@<span>city311</span>'
                   f"</a></span> {html.escape(str(body['text']))}</p>")
        status = {"id": status_id, "created_at": now, "in_reply_to_id": None, "in_reply_to_account_id": None,
                  "sensitive": False, "spoiler_text": "", "visibility": "public", "language": "en",
                  "uri": f"{author['url']}/{status_id}", "url": f"{author['url']}/{status_id}",
                  "replies_count": 0, "reblogs_count": 0, "favourites_count": 0, "content": content,
                  "account": author, "media_attachments": [], "tags": [], "emojis": [],
                  "mentions": [{"id": CITY_ACCOUNT_ID, "username": "city311", "acct": "city311",
                                "url": city["url"]}]}
        notification = {"id": nid, "type": "mention", "created_at": now, "account": author, "status": status}
        with lock:
            mentions.append(notification)
        rec.record("mention", id=nid, status_id=status_id, acct=acct)
        return JSONResponse(notification, status_code=201)

    return app
