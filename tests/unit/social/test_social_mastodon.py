"""Mastodon: the notification, status, media and stream captures of the shared test data
(`meta_social/mastodon`, read through `support.data.shared_data()`) parse into the right messages (text,
media with alt text, author handle); the user stream and the notifications API are read by the real
Mastodon.py client from a small local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from mastodon import Mastodon

from services.intake_social.adapters.mastodon_api import MastodonApi, mention_listener
from services.intake_social.domain.mastodon import (
    html_to_text,
    message_from_status,
    outcome_of_notification,
    status_text,
)
from services.intake_social.domain.outcomes import Ignored, Inbound, Rejected, contact_key, event_id_for
from support.data import shared_data

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
HOST = "localhost:3000"


def data(name: str) -> Any:
    path = shared_data() / "meta_social" / "mastodon" / name
    return path.read_bytes() if name.endswith(".txt") else json.loads(path.read_text("utf-8"))


def test_a_mention_notification_becomes_a_message_from_its_author() -> None:
    (notification,) = data("mastodonpy_notifications_mentions_only_response.json")
    outcome = outcome_of_notification(notification, own_acct="mastodonpy_test", own_account_id="117020565966271181",
                                      instance_host=HOST, now=NOW)
    assert isinstance(outcome, Inbound)
    m = outcome.message
    assert m.channel == "mastodon" and m.channel_message_id == "117020577157693549"
    assert m.description == "hello!"  # the leading mention of the city only addressed the message
    assert m.pii.handle == "@admin@localhost:3000" and m.pii.name is None
    assert m.contact_key == contact_key("mastodon", "@admin@localhost:3000")
    assert m.requested_datetime == datetime(2026, 8, 1, 13, 51, 42, 823000, tzinfo=UTC)
    assert m.language == "en" and m.media_url == [] and m.attributes == {"visibility": "public"}
    assert outcome.event_id == event_id_for("mastodon", "117020577157693549")


def test_a_mention_by_someone_else_keeps_other_mentions_as_full_addresses() -> None:
    (notification,) = data("mastodonpy_notifications_mentions_only_response.json")
    outcome = outcome_of_notification(notification, own_acct="city311", own_account_id="1", instance_host=HOST, now=NOW)
    assert isinstance(outcome, Inbound)
    assert outcome.message.description == "@mastodonpy_test hello!"


def test_status_html_drops_invisible_spans_keeps_the_ellipsis_and_decodes_entities() -> None:
    status = data("mastodon_docs_status_example_mastodon_social.json")
    text = status_text(status)
    assert text == ('"I lost my inheritance with one wrong digit on my sort code"\n\n'
                    "theguardian.com/money/2019/dec…")
    assert "https://www." not in text and "/07/i-lost" not in text and "<" not in text
    m = message_from_status(status, own_acct="city311", instance_host="mastodon.social", now=NOW)
    assert m.pii.handle == "@Gargron@mastodon.social" and m.pii.name == "Eugen"
    assert m.channel_message_id == "103270115826048975"


def test_a_status_with_two_images_keeps_both_urls_and_their_alt_text() -> None:
    status = data("mastodonpy_status_with_two_media_attachments.json")
    m = message_from_status(status, own_acct="city311", instance_host=HOST, now=NOW)
    assert m.media_url == [a["url"] for a in status["media_attachments"]] and len(m.media_url) == 2
    assert m.description == ("LOL check this out\n\n[image: John Lennon doing a funny walk]\n\n"
                             "[image: hololives #1 detective, watson ameliachan]")
    assert m.pii.handle == "@mastodonpy_test@localhost:3000" and m.pii.name == "John Lennon"
    assert m.lat is None and m.long is None  # Mastodon strips EXIF: no location arrives
    assert m.attributes == {"visibility": "unlisted"}


def test_every_kind_of_media_attachment_is_kept_with_its_alt_text_when_it_has_one() -> None:
    attachments = data("mastodon_docs_media_attachment_examples.json")
    status = data("mastodonpy_status_with_two_media_attachments.json") | {"media_attachments": attachments,
                                                                         "content": "<p>Flooded underpass</p>"}
    m = message_from_status(status, own_acct=None, instance_host=HOST, now=NOW)
    assert m.media_url == [a["url"] for a in attachments]
    assert [a["type"] for a in attachments] == ["image", "video", "gifv", "audio"]
    assert m.description == "Flooded underpass\n\n[image: test media description]"


def test_html_to_text_handles_breaks_paragraphs_hashtags_and_remote_mentions() -> None:
    html = ('<p>Streetlight out<br />corner of 5th &amp; Main</p><p>'
            '<span class="h-card"><a href="https://other.social/@ana" class="u-url mention">@<span>ana</span></a>'
            '</span> saw it too <a href="https://city.social/tags/streetlight" class="mention hashtag" rel="tag">'
            '#<span>streetlight</span></a></p>')
    assert html_to_text(html, {"https://other.social/@ana": "ana@other.social"}) == (
        "Streetlight out\ncorner of 5th & Main\n\n@ana@other.social saw it too #streetlight")
    assert html_to_text(html) == "Streetlight out\ncorner of 5th & Main\n\n@ana saw it too #streetlight"


def test_a_content_warning_comes_first_and_other_notifications_are_not_messages() -> None:
    (notification,) = data("mastodonpy_notifications_mentions_only_response.json")
    status = notification["status"] | {"spoiler_text": "injury"}
    assert status_text(status, own_acct="mastodonpy_test") == "CW: injury\n\nhello!"
    fav = notification | {"type": "favourite"}
    assert isinstance(outcome_of_notification(fav, own_acct="x", own_account_id="1", instance_host=HOST, now=NOW),
                      Ignored)
    no_status = notification | {"status": None}
    assert isinstance(outcome_of_notification(no_status, own_acct="x", own_account_id="1", instance_host=HOST,
                                              now=NOW), Rejected)
    own = outcome_of_notification(notification, own_acct="admin", own_account_id="117020565693913441",
                                  instance_host=HOST, now=NOW)
    assert isinstance(own, Ignored) and own.reason == "own_status"


# --- the real Mastodon.py client against a local server ------------------------------------------------------


class Server:
    """A tiny Mastodon: the user stream replays the SSE capture; notifications come from `mentions`
    (newest first, honouring since_id/max_id/limit); every request is recorded."""

    def __init__(self, stream_body: bytes, mentions: list[dict[str, Any]]) -> None:
        self.stream_body = stream_body
        self.mentions = mentions
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                outer.requests.append((url.path, query))
                if url.path == "/api/v1/streaming/user":
                    self.reply(200, outer.stream_body, "text/event-stream")
                elif url.path == "/api/v1/streaming/health":
                    self.reply(200, b"OK", "text/plain")
                elif url.path == "/api/v1/accounts/verify_credentials":
                    self.reply(200, json.dumps({"id": "117020565966271181", "acct": "mastodonpy_test",
                                                "username": "mastodonpy_test"}).encode())
                elif url.path == "/api/v1/notifications":
                    self.reply(200, json.dumps(outer.page(query)).encode())
                else:
                    self.reply(404, b'{"error": "Record not found"}')

            def reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def page(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        items = sorted(self.mentions, key=lambda n: int(n["id"]), reverse=True)
        if "since_id" in query:
            items = [n for n in items if int(n["id"]) > int(query["since_id"][0])]
        if "max_id" in query:
            items = [n for n in items if int(n["id"]) < int(query["max_id"][0])]
        return items[: int(query.get("limit", ["40"])[0])]

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    (mention,) = data("mastodonpy_notifications_mentions_only_response.json")
    mentions = [mention | {"id": str(i), "status": mention["status"] | {"id": f"9000{i}"}} for i in range(1, 6)]
    with Server(data("mastodonpy_streaming_user_sse_capture.txt"), mentions) as s:
        yield s


def test_the_captured_user_stream_read_by_mastodon_py_gives_the_two_mentions(server: Server) -> None:
    seen: list[Any] = []
    listener = mention_listener(on_mention=seen.append)
    client = Mastodon(access_token="t", api_base_url=server.url, request_timeout=5)
    client.stream_user(listener)  # blocking: returns when the capture ends
    assert [(n["id"], n["account"]["acct"]) for n in seen] == [("14", "admin"), ("16", "mastodonpy_test_2")]
    outcomes = [outcome_of_notification(n, own_acct="mastodonpy_test", own_account_id="117020617404561855",
                                        instance_host=HOST, now=NOW) for n in seen]
    assert all(isinstance(o, Inbound) for o in outcomes)
    messages = [o.message for o in outcomes if isinstance(o, Inbound)]
    assert [(m.description, m.pii.handle) for m in messages] == [
        ("beep beep I'm a jeep", "@admin@localhost:3000"),
        ("pssssst!", "@mastodonpy_test_2@localhost:3000"),
    ]
    assert messages[1].attributes == {"visibility": "direct"}
    assert ("/api/v1/streaming/user", {}) in server.requests


async def test_mastodon_api_pages_mentions_with_types_and_since_id(server: Server) -> None:
    api = MastodonApi(server.url, "token", request_timeout_s=5)
    assert await api.whoami() == ("117020565966271181", "mastodonpy_test")
    assert await api.stream_available() is True
    page = await api.page(since_id="2", max_id=None, limit=2)
    assert [n["id"] for n in page] == ["5", "4"]
    assert isinstance(page[0]["status"]["created_at"], datetime)  # Mastodon.py parses times
    path, query = server.requests[-1]
    assert path == "/api/v1/notifications"
    assert query["types[]"] == ["mention"] and query["since_id"] == ["2"] and query["limit"] == ["2"]
    older = await api.page(since_id="2", max_id="4", limit=2)
    assert [n["id"] for n in older] == ["3"]
    api.close()
