"""An in-memory `WebhooksRepository` for the handler, admin and delivery tests: the same methods, the same
rules (one message per (event, subscription), head-of-line leases, lost leases) on plain dicts."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from services.webhooks.domain import CaseFacts
from services.webhooks.domain.records import Claimed, LoggedAttempt, NewMessage, Subscription


class FakeWebhooksRepository:
    def __init__(self) -> None:
        self.subs: dict[UUID, Subscription] = {}
        self.cases: dict[UUID, CaseFacts] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.attempts: list[dict[str, Any]] = []

    # events
    async def case_facts(self, case_id: UUID) -> CaseFacts:
        return self.cases.get(case_id, CaseFacts())

    async def save_case_facts(self, case_id: UUID, facts: CaseFacts, now: datetime) -> None:
        self.cases[case_id] = facts

    async def live_subscriptions(self) -> list[Subscription]:
        return [s for s in self.subs.values() if s.status != "disabled"]

    async def add_messages(self, messages: Any, now: datetime) -> int:
        made = 0
        for m in messages:
            if any(r["event_id"] == m.event_id and r["subscription_id"] == m.subscription_id
                   for r in self.messages.values()):
                continue
            mid = len(self.messages) + 1
            self.messages[mid] = {**vars(m), "id": mid, "body": copy.deepcopy(m.body), "status": "waiting",
                                  "attempts": 0, "failures": 0, "next_attempt_at": now, "lease_token": None,
                                  "lease_until": None, "created_at": now, "delivered_at": None}
            made += 1
        return made

    async def personal_messages(self, case_id: UUID) -> list[tuple[int, dict[str, Any]]]:
        return [(i, m["body"]) for i, m in self.messages.items() if m["case_id"] == case_id and m["personal_data"]]

    async def subscription_personal_messages(self, sub_id: UUID) -> list[tuple[int, dict[str, Any]]]:
        return [(i, m["body"]) for i, m in self.messages.items()
                if m["subscription_id"] == sub_id and m["personal_data"]]

    async def replace_body(self, message_id: int, body: Any) -> None:
        self.messages[message_id].update(body=dict(body), personal_data=False)

    # admin
    async def add_subscription(self, sub: Subscription) -> None:
        self.subs[sub.id] = sub

    async def subscription(self, sub_id: UUID, *, for_update: bool = False) -> Subscription | None:
        return self.subs.get(sub_id)

    async def subscriptions(self) -> list[Subscription]:
        return list(self.subs.values())

    async def update_subscription(self, sub_id: UUID, changes: Any, now: datetime) -> None:
        self.subs[sub_id] = replace(self.subs[sub_id], **changes, updated_at=now)

    async def disable(self, sub_id: UUID, now: datetime) -> None:
        self.subs[sub_id] = replace(self.subs[sub_id], status="disabled", updated_at=now)

    async def rotate_secret(self, sub_id: UUID, secret: str, previous: str, until: datetime, now: datetime) -> None:
        self.subs[sub_id] = replace(self.subs[sub_id], secret=secret, previous_secret=previous,
                                    previous_secret_until=until, updated_at=now)

    async def resume(self, sub_id: UUID, now: datetime) -> int:
        s = self.subs[sub_id]
        if s.status == "paused":
            self.subs[sub_id] = replace(s, status="active", consecutive_failures=0, paused_at=None, updated_at=now)
        waiting = [m for m in self.messages.values() if m["subscription_id"] == sub_id and m["status"] == "waiting"]
        for m in waiting:
            m.update(next_attempt_at=now, failures=0)
        return len(waiting)

    async def redeliver(self, sub_id: UUID, since: datetime, until: datetime, now: datetime) -> int:
        again = [m for m in self.messages.values()
                 if m["subscription_id"] == sub_id and since <= m["occurred_at"] < until]
        for m in again:
            m.update(status="waiting", next_attempt_at=now, failures=0, delivered_at=None)
        return len(again)

    async def attempts_log(self, sub_id: UUID, *, outcome: str | None, limit: int) -> list[LoggedAttempt]:
        rows = [a for a in reversed(self.attempts) if a["subscription_id"] == sub_id
                and (outcome is None or a["outcome"] == outcome)][:limit]
        out = []
        for a in rows:
            m = self.messages[a["message_id"]]
            out.append(LoggedAttempt(id=a["id"], message_id=a["message_id"], webhook_id=m["webhook_id"],
                                     event_type=m["event_type"], event_id=m["event_id"], case_id=m["case_id"],
                                     attempt=a["attempt"], attempted_at=a["attempted_at"],
                                     duration_ms=a["duration_ms"], http_status=a["http_status"], error=a["error"],
                                     outcome=a["outcome"], next_attempt_at=a["next_attempt_at"]))
        return out

    # delivery
    def _head(self, sub_id: UUID) -> dict[str, Any] | None:
        waiting = sorted((m for m in self.messages.values()
                          if m["subscription_id"] == sub_id and m["status"] == "waiting"), key=lambda m: m["id"])
        return waiting[0] if waiting else None

    @staticmethod
    def _due(m: dict[str, Any], now: datetime) -> bool:
        return m["next_attempt_at"] <= now and (m["lease_until"] is None or m["lease_until"] < now)

    async def lock_due_subscriptions(self, now: datetime, limit: int) -> list[UUID]:
        return [s.id for s in self.subs.values()
                if s.status == "active" and (h := self._head(s.id)) is not None and self._due(h, now)][:limit]

    async def lease_heads(self, sub_ids: list[UUID], now: datetime, lease_until: datetime,
                          token: UUID) -> list[Claimed]:
        out = []
        for sid in sub_ids:
            m = self._head(sid)
            if m is None or not self._due(m, now):
                continue
            m.update(lease_token=token, lease_until=lease_until)
            s = self.subs[sid]
            out.append(Claimed(message_id=m["id"], subscription_id=sid, url=s.url, webhook_id=m["webhook_id"],
                               body=copy.deepcopy(m["body"]), attempts=m["attempts"], failures=m["failures"],
                               consecutive_failures=s.consecutive_failures, secret=s.secret,
                               previous_secret=s.previous_secret, previous_secret_until=s.previous_secret_until,
                               lease_token=token))
        return out

    async def finish_message(self, claimed: Claimed, *, delivered: bool, failures: int,
                             next_attempt_at: datetime | None, now: datetime) -> int | None:
        m = self.messages[claimed.message_id]
        if m["lease_token"] != claimed.lease_token:
            return None
        m.update(attempts=m["attempts"] + 1, failures=failures, lease_token=None, lease_until=None)
        if delivered:
            m.update(status="delivered", delivered_at=now)
        if next_attempt_at is not None:
            m["next_attempt_at"] = next_attempt_at
        return m["attempts"]

    async def log_attempt(self, claimed: Claimed, *, attempt: int, at: datetime, duration_ms: int,
                          http_status: int | None, error: str | None, delivered: bool,
                          next_attempt_at: datetime | None) -> None:
        self.attempts.append({"id": len(self.attempts) + 1, "message_id": claimed.message_id,
                              "subscription_id": claimed.subscription_id, "attempt": attempt, "attempted_at": at,
                              "duration_ms": duration_ms, "http_status": http_status, "error": error,
                              "outcome": "delivered" if delivered else "failed", "next_attempt_at": next_attempt_at})

    async def after_attempt(self, sub_id: UUID, *, delivered: bool, consecutive_failures: int, error: str | None,
                            pause: bool, now: datetime) -> None:
        s = self.subs[sub_id]
        pausing = pause and s.status == "active"
        self.subs[sub_id] = replace(
            s, consecutive_failures=consecutive_failures, last_attempt_at=now,
            last_error=s.last_error if delivered else error, last_success_at=now if delivered else s.last_success_at,
            status="paused" if pausing else s.status, paused_at=now if pausing else s.paused_at)

    async def figures(self, now: datetime) -> tuple[int, int, float]:
        waiting = [m for m in self.messages.values() if m["status"] == "waiting"]
        age = max(((now - m["created_at"]).total_seconds() for m in waiting), default=0.0)
        return sum(s.status == "paused" for s in self.subs.values()), len(waiting), age

    async def prune(self, before: datetime) -> tuple[int, int]:
        return 0, 0
