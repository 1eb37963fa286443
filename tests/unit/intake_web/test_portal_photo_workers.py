"""Photo processing is bounded (`OMNI311_PHOTO_WORKERS`): at most that many photos are converted at once,
a few more wait their turn, and the rest get 503 with Retry-After rather than piling up in memory."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from portal_fakes import Portal
from shared.media.photos import Photo
from services.intake_web.service_layer import portal
from services.intake_web.service_layer.photo_gate import QUEUE_PER_WORKER

OPEN311 = {"api_key": "demo-key", "service_code": "pothole", "attribute[size]": "large", "lat": "45.4216",
           "long": "-75.6973", "description": "Deep hole"}


class SlowConverter:
    """A `process_photo` that holds each call until `release` is set, counting calls running at once.
    `running_at_least(n)` blocks (up to `timeout` seconds) until n calls are inside the converter, so a
    test releases them only once it has seen them run together, whatever the load on the machine."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.running = 0
        self.peak = 0
        self.calls = 0
        self._changed = threading.Condition()

    def __call__(self, data: bytes) -> Photo:
        with self._changed:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
            self._changed.notify_all()
        self.release.wait(60)
        with self._changed:
            self.running -= 1
            self._changed.notify_all()
        return Photo(jpeg=b"\xff\xd8jpeg", width=1, height=1)

    def running_at_least(self, n: int, timeout: float = 30) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.running >= n, timeout)


@pytest.fixture
def slow(monkeypatch: pytest.MonkeyPatch) -> SlowConverter:
    converter = SlowConverter()
    monkeypatch.setattr(portal, "process_photo", converter)
    return converter


async def test_at_most_photo_workers_are_converted_at_once_the_queue_waits_the_overflow_gets_503(
        slow: SlowConverter) -> None:
    p = Portal(photo_workers=2, limit_uploads_per_client="1000/minute")
    queued = 2 + 2 * QUEUE_PER_WORKER
    async with p.web as web:
        sends = [asyncio.create_task(web.post("/photos", files={"photo": (f"{i}.jpg", b"x", "image/jpeg")}))
                 for i in range(queued + 1)]
        done, _ = await asyncio.wait(sends, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        assert len(done) == 1, "only the upload past the waiting line is answered while the workers are busy"
        busy = done.pop().result()
        both_ran = await asyncio.to_thread(slow.running_at_least, 2)
        slow.release.set()
        answers = [await s for s in sends if not s.done() or s.result() is not busy]
    assert both_ran, "the two workers never converted at the same time"
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "5", busy.text
    assert [a.status_code for a in answers] == [201] * queued
    assert slow.peak == 2 and slow.calls == queued and len(p.store.photos) == queued


async def test_an_open311_media_file_past_the_waiting_line_gets_an_open311_503(slow: SlowConverter) -> None:
    p = Portal(photo_workers=1, limit_uploads_per_client="1000/minute", limit_reports_per_client="1000/minute")
    async with p.web as web:
        holding = [asyncio.create_task(web.post("/photos", files={"photo": ("a.jpg", b"x", "image/jpeg")}))
                   for _ in range(1 + QUEUE_PER_WORKER)]
        assert await asyncio.to_thread(slow.running_at_least, 1)
        await asyncio.sleep(0.05)
        posted = await web.post("/requests.json", data=OPEN311, files={"media": ("c.jpg", b"x", "image/jpeg")})
        slow.release.set()
        held: list[Any] = [await h for h in holding]
    assert posted.status_code == 503 and posted.headers["Retry-After"] == "5", posted.text
    assert posted.json()[0]["code"] == 503 and not p.published
    assert [h.status_code for h in held] == [201] * (1 + QUEUE_PER_WORKER)
