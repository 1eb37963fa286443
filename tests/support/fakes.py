"""Local fakes of outside SaaS the notifier writes to (docs/architecture.md "Running and testing"): the Twilio REST API, Meta's
Graph API (Send API, WhatsApp Cloud) and a Mastodon instance. Each is a small HTTP server on its own
port, started before a stack so that the notifier can be pointed at it, answering as the real API does
(the real client libraries parse the answers) and recording every request it receives."""

from __future__ import annotations

import copy
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from support.data import shared_data


@dataclass(frozen=True)
class Recorded:
    """One request as received: method, path (no query), query, headers, raw body."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def json(self) -> Any:
        return json.loads(self.body)


class FakeApi:
    """A threaded HTTP server; subclasses answer in `answer(req) -> (status, body)`: a body of bytes is sent
    as it is, as `bytes_content_type`; any other as JSON (a str as already encoded)."""

    bytes_content_type = "application/octet-stream"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def handle_any(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = Recorded(self.command, url.path, parse_qs(url.query),
                               {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with outer.lock:
                    outer.requests.append(req)
                status, body = outer.answer(req)
                if isinstance(body, bytes):
                    raw, content_type = body, outer.bytes_content_type
                else:
                    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                    content_type = "application/json; charset=utf-8"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_DELETE = handle_any  # noqa: N815 - http.server's names

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, req: Recorded) -> tuple[int, Any]:
        return 404, {"error": "not found"}

    def received(self, method: str, path_suffix: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    def start(self) -> FakeApi:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeTwilioApi(FakeApi):
    """`POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (basic auth), answered 201 with a Message
    resource as Twilio returns it. `messages()` are the form bodies sent."""

    def answer(self, req: Recorded) -> tuple[int, Any]:
        parts = req.path.split("/")
        if req.method == "POST" and len(parts) == 5 and parts[1] == "2010-04-01" and parts[4] == "Messages.json":
            if not req.headers.get("authorization", "").startswith("Basic "):
                return 401, {"code": 20003, "message": "Authenticate", "status": 401}
            form = req.form()
            now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
            sid = "SM" + uuid.uuid4().hex
            return 201, {"sid": sid, "account_sid": parts[3], "to": form.get("To"), "from": form.get("From"),
                         "body": form.get("Body"), "status": "queued", "num_segments": "1", "num_media": "0",
                         "direction": "outbound-api", "api_version": "2010-04-01", "date_created": now,
                         "date_updated": now, "date_sent": None, "price": None, "price_unit": "USD",
                         "error_code": None, "error_message": None, "messaging_service_sid": None,
                         "uri": f"/2010-04-01/Accounts/{parts[3]}/Messages/{sid}.json", "subresource_uris": {}}
        return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}

    def messages(self) -> list[dict[str, str]]:
        return [r.form() for r in self.received("POST", "/Messages.json")]


class FakeGraphApi(FakeApi):
    """Meta's Graph API: `POST /{version}/me/messages` (Send API) and `POST /{version}/{phone-number-id}/messages`
    (WhatsApp Cloud), with a Bearer token."""

    def answer(self, req: Recorded) -> tuple[int, Any]:
        if req.method != "POST" or not req.path.endswith("/messages"):
            return 404, {"error": {"message": "Unknown path", "type": "OAuthException", "code": 803}}
        if not req.headers.get("authorization", "").startswith("Bearer "):
            return 400, {"error": {"message": "An active access token must be used", "type": "OAuthException",
                                   "code": 2500}}
        body = req.json()
        if req.path.endswith("/me/messages"):
            return 200, {"recipient_id": body["recipient"]["id"], "message_id": "m_" + uuid.uuid4().hex}
        return 200, {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                     "messages": [{"id": "wamid." + uuid.uuid4().hex}]}


class FakeMastodonApi(FakeApi):
    """A Mastodon instance for the city's account (token `city-token`): mention notifications (polled; no
    streaming), and `POST /api/v1/statuses` answered with the new status."""

    CITY_ACCOUNT_ID = "110000000000000001"

    def __init__(self) -> None:
        super().__init__()
        self.mentions: list[dict[str, Any]] = []

    def answer(self, req: Recorded) -> tuple[int, Any]:
        if req.headers.get("authorization") != "Bearer city-token":
            return 401, {"error": "The access token is invalid"}
        if req.path == "/api/v1/accounts/verify_credentials":
            return 200, {"id": self.CITY_ACCOUNT_ID, "username": "city311", "acct": "city311"}
        if req.path == "/api/v1/notifications":
            with self.lock:
                items = sorted(self.mentions, key=lambda n: int(n["id"]), reverse=True)
            if "since_id" in req.query:
                items = [n for n in items if int(n["id"]) > int(req.query["since_id"][0])]
            if "max_id" in req.query:
                items = [n for n in items if int(n["id"]) < int(req.query["max_id"][0])]
            return 200, items[: int(req.query.get("limit", ["40"])[0])]
        if req.path == "/api/v1/statuses" and req.method == "POST":
            sent = req.json() if "json" in req.headers.get("content-type", "") else req.form()
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            return 200, {"id": str(uuid.uuid4().int % 10**17), "created_at": now, "content": sent.get("status"),
                         "visibility": sent.get("visibility"), "in_reply_to_id": sent.get("in_reply_to_id"),
                         "account": {"id": self.CITY_ACCOUNT_ID, "username": "city311", "acct": "city311"},
                         "media_attachments": [], "mentions": [], "tags": [], "emojis": []}
        return 404, {"error": "Record not found"}

    def statuses(self) -> list[dict[str, Any]]:
        out = []
        for r in self.received("POST", "/api/v1/statuses"):
            out.append(r.json() if "json" in r.headers.get("content-type", "") else r.form())
        return out

    def mention(self, nid: int, status_id: str, text: str) -> dict[str, Any]:
        """Add a mention of @city311, shaped as the real one recorded by Mastodon.py's test suite."""
        path = shared_data() / "meta_social" / "mastodon" / "mastodonpy_notifications_mentions_only_response.json"
        (n,) = json.loads(path.read_text("utf-8"))
        n = copy.deepcopy(n)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        n.update(id=str(nid), created_at=now)
        n["status"].update(id=status_id, created_at=now, visibility="public", media_attachments=[],
                           content=f'<p><span class="h-card"><a href="{self.url}/@city311" class="u-url mention">'
                                   f"@<span>city311</span></a></span> {text}</p>",
                           mentions=[{"id": self.CITY_ACCOUNT_ID, "username": "city311", "acct": "city311",
                                      "url": f"{self.url}/@city311"}])
        with self.lock:
            self.mentions.append(n)
        return n
