"""In-memory stand-ins for intake_social's webhook dependencies: the conversations and unsupported-message
stores (the PostgreSQL tables of migrations 003-004) and the case service's read API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.intake import CaseApiUnavailable
from shared.intake.conversation import Thread
from shared.open311 import ServiceRequest


class FakeConversations:
    """`ConversationStore` in memory: (contact_key, channel) -> Thread."""

    def __init__(self) -> None:
        self.threads: dict[tuple[str, str], Thread] = {}

    async def thread_of(self, contact_key: str, channel: str) -> Thread | None:
        return self.threads.get((contact_key, channel))

    async def opened(self, contact_key: str, channel: str, report_id: str, service_code: str | None,
                     at: datetime) -> None:
        self.threads[(contact_key, channel)] = Thread(report_id=report_id, last_at=at, service_code=service_code)

    async def touched(self, contact_key: str, channel: str, at: datetime) -> None:
        t = self.threads[(contact_key, channel)]
        self.threads[(contact_key, channel)] = Thread(t.report_id, max(t.last_at, at), t.service_code)


class FakeUnsupported:
    """`UnsupportedStore` in memory, one row per (channel, message id) as the table's unique key."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    async def keep(self, *, channel: str, message_id: str, contact_key: str, kind: str, raw: Any,
                   received_at: datetime) -> None:
        self.rows.setdefault((channel, message_id), {
            "id": len(self.rows) + 1, "channel": channel, "message_id": message_id, "contact_key": contact_key,
            "kind": kind, "raw": raw, "received_at": received_at.isoformat(), "erased_at": None})

    async def recent(self, limit: int) -> list[dict[str, Any]]:
        rows = sorted(self.rows.values(), key=lambda r: (r["received_at"], r["id"]), reverse=True)[:limit]
        return [{k: v for k, v in r.items() if k != "contact_key"} for r in rows]


class FakeCaseApi:
    """The case service's token and request reads: `cases` maps (channel, token) to a case number,
    `closed` holds the numbers of closed cases; `down` makes every read raise `CaseApiUnavailable`."""

    def __init__(self) -> None:
        self.cases: dict[tuple[str, str], str] = {}
        self.closed: set[str] = set()
        self.down = False
        self.asked: list[str] = []

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        self.asked.append(token)
        if self.down:
            raise CaseApiUnavailable("connection refused")
        return self.cases.get((channel, token))

    async def request(self, service_request_id: str, *, extensions: bool = False) -> ServiceRequest | None:
        if self.down:
            raise CaseApiUnavailable("connection refused")
        return ServiceRequest(service_request_id=service_request_id, service_code="pothole",
                              status="closed" if service_request_id in self.closed else "open",
                              requested_datetime=datetime(2026, 11, 29, 11, 0).astimezone())


class FakeMedia:
    """`MediaKeeper` in memory: every URL is "kept" as ``http://social.test/media/<n>`` unless it is in
    `refuse` (raises `MediaRefused`) or `unreachable` (raises `MediaUnavailable`); `kept` records
    (url, channel_message_id), `forgotten` the message ids whose files were deleted."""

    def __init__(self) -> None:
        self.kept: list[tuple[str, str]] = []
        self.refuse: set[str] = set()
        self.unreachable: set[str] = set()
        self.forgotten: list[str] = []

    async def keep(self, url: str, *, channel_message_id: str) -> str:
        from shared.media import MediaRefused, MediaUnavailable

        if url in self.refuse:
            raise MediaRefused("the type 'text/html' is not one we keep")
        if url in self.unreachable:
            raise MediaUnavailable("lookaside.fbsbx.com answered 404")
        self.kept.append((url, channel_message_id))
        return f"http://social.test/media/{len(self.kept)}"

    async def forget(self, channel_message_id: str) -> int:
        self.forgotten.append(channel_message_id)
        return sum(1 for _url, mid in self.kept if mid == channel_message_id)
