"""`GET /media/{media_id}` (shared.media.mount_media) serves a kept file with intake_email's headers, and
any id that names nothing (unknown, not a UUID, odd bytes) is a 404, never a 5xx."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from shared.media import StoredMedia, mount_media
from shared.media.store import media_id_of

KEPT = StoredMedia(media_id=media_id_of("ab" * 32), content=b"%PDF-1.4 ...", content_type="application/pdf",
                   filename="plan de la rue.pdf", sha256="ab" * 32, size=12, width=None, height=None,
                   channel_message_ids=("SM1",), created_at=None)  # type: ignore[arg-type]


class FakeStore:
    def __init__(self) -> None:
        self.asked: list[uuid.UUID] = []

    async def get(self, media_id: uuid.UUID) -> StoredMedia | None:
        self.asked.append(media_id)
        return KEPT if media_id == KEPT.media_id else None


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
async def client(store: FakeStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    mount_media(app, lambda request: store)  # type: ignore[arg-type,return-value]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as c:
        yield c


async def test_a_kept_file_is_served_inline_with_intake_emails_headers(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/media/{KEPT.media_id}")
    assert response.status_code == 200 and response.content == KEPT.content
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == "inline; filename*=UTF-8''plan%20de%20la%20rue.pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == "default-src 'none'"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_an_unknown_id_is_404(client: httpx.AsyncClient, store: FakeStore) -> None:
    other = uuid.uuid4()
    assert (await client.get(f"/media/{other}")).status_code == 404
    assert store.asked == [other]


@pytest.mark.parametrize("media_id", ["not-a-uuid", "%00", "%0B%3C%27", "%FF%FE", "..", "x" * 5000,
                                      f"{KEPT.media_id}%00", "1", "%E2%80%AE"])
async def test_an_id_that_is_not_a_uuid_is_404_and_the_store_is_not_asked(client: httpx.AsyncClient, store: FakeStore,
                                                                          media_id: str) -> None:
    response = await client.get(f"/media/{media_id}")
    assert response.status_code == 404
    assert store.asked == []


def test_the_route_is_in_the_openapi_document() -> None:
    app = FastAPI()
    mount_media(app, lambda request: FakeStore())  # type: ignore[arg-type,return-value]
    assert "/media/{media_id}" in app.openapi()["paths"]
