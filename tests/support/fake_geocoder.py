"""A local geocoding server that replays real recorded Nominatim and Pelias search responses.

`tests/fixtures/geocoding/index.json` maps a query (case and spaces folded) to a recorded body:
``GET /search?q=...`` answers Nominatim's, ``GET /v1/search?text=...`` Pelias's. An unknown query gets
what each server answers when it finds nothing (Nominatim ``[]``, Pelias a FeatureCollection with no
features). ``delay_s`` makes every answer late (a slow server), ``status`` makes it an error.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "geocoding"


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


class FakeGeocoderServer:
    """The server's state: ``url``, the ``requests`` it received (path and query parameters), and the
    knobs ``delay_s`` and ``status`` (change them at any time)."""

    def __init__(self, *, delay_s: float = 0.0, status: int = 200) -> None:
        self.delay_s = delay_s
        self.status = status
        self.requests: list[tuple[str, dict[str, str]]] = []
        index = json.loads((FIXTURES / "index.json").read_text(encoding="utf-8"))
        self._bodies = {
            api: {_fold(q): (FIXTURES / name).read_bytes() for q, name in entries.items()}
            for api, entries in index.items()
        }
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-geocoder", daemon=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                fake.requests.append((url.path, params))
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if url.path == "/search":
                    body = fake._bodies["nominatim"].get(_fold(params.get("q", "")), b"[]")
                elif url.path == "/v1/search":
                    empty = b'{"geocoding":{"version":"0.2"},"type":"FeatureCollection","features":[]}'
                    body = fake._bodies["pelias"].get(_fold(params.get("text", "")), empty)
                else:
                    self.send_error(404)
                    return
                if fake.status != 200:
                    body = b'{"error":"recorded error"}'
                try:
                    self.send_response(fake.status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
                return

        return Handler

    def start(self) -> FakeGeocoderServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def fake_geocoder(*, delay_s: float = 0.0, status: int = 200) -> Iterator[FakeGeocoderServer]:
    """A running `FakeGeocoderServer` for the duration of the block."""
    server = FakeGeocoderServer(delay_s=delay_s, status=status).start()
    try:
        yield server
    finally:
        server.stop()
