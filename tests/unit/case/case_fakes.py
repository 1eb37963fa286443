"""In-memory doubles of the case service's repository and SLA clock hooks, shared by the case handler and
staff command tests, and the jurisdiction they run with."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from services.case.adapters.repository import CASE_COLUMNS
from services.case.domain.rules import CaseState
from services.case.domain.threading import CaseRef, ThreadingFacts
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from support.uow import FakeStore


@cache
def demo() -> Jurisdiction:
    """The demo jurisdiction of the repository (workflow, queues, teams, canned responses)."""
    return load_jurisdiction("demo")


class FakeCaseRepository:
    """`CaseRepository` in memory: cases by id (every column), messages, reporters, timeline rows, our
    outbound message ids, the case-number sequence and the order rows were locked in (`locks`)."""

    def __init__(self) -> None:
        self.cases: dict[UUID, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.reporters: dict[str, dict[str, Any]] = {}
        self.timeline: list[dict[str, Any]] = []
        self.outbound: dict[str, UUID] = {}
        self.seq = 0
        self.locks: list[UUID] = []
        self.suggestions: dict[UUID, dict[str, Any]] = {}
        self.followers: list[dict[str, Any]] = []
        self.survey_answers: dict[str, dict[str, Any]] = {}
        self.withdrawals: dict[tuple[str, str], dict[str, Any]] = {}
        self.forgotten: list[UUID] = []
        self.external: dict[tuple[UUID, str], dict[str, Any]] = {}

    async def threading_facts(self, channel: str, channel_message_id: str, *, hinted: str | None,
                              reply_ids: list[str], reserve_number: bool = False) -> ThreadingFacts:
        held = [m["case_id"] for m in self.messages
                if (m["channel"], m["channel_message_id"]) == (channel, channel_message_id)]
        numbered = [c for c in self.cases.values() if hinted and c["service_request_id"] == hinted]
        ours = [self.outbound[i] for i in reply_ids if i in self.outbound]
        theirs = [m["case_id"] for m in self.messages if m["channel_message_id"] in reply_ids]
        answering = sorted((m for m in self.messages if channel_message_id in m["in_reply_to"]),
                           key=lambda m: m["received_at"])
        opens = not (held or numbered or ours or theirs or answering)
        return ThreadingFacts(
            held_by=held[0] if held else None,
            hinted=CaseRef(numbered[0]["case_id"], numbered[0]["contact_key"]) if numbered else None,
            replied_ours=ours[0] if ours else None,
            replied_theirs=theirs[0] if theirs else None,
            answered_by=(CaseRef(answering[0]["case_id"], self.cases[answering[0]["case_id"]]["contact_key"])
                         if answering else None),
            withdrawn_first=self._pending_withdrawal(channel, channel_message_id),
            reserved_number=await self.next_case_number() if reserve_number and opens else None,
        )

    async def upsert_reporter(self, contact_key: str, channel: str, pii: dict[str, Any], now: datetime) -> None:
        known = self.reporters.get(contact_key)
        if known is None:
            self.reporters[contact_key] = {"channel": channel, "pii": pii, "first_seen": now, "last_seen": now}
        else:
            known.update(last_seen=now, pii={**known["pii"], **{k: v for k, v in pii.items() if v is not None}})

    async def next_case_number(self) -> int:
        self.seq += 1
        return self.seq

    async def insert_case(self, row: dict[str, Any]) -> None:
        assert row["case_id"] not in self.cases
        assert row["contact_key"] in self.reporters, "cases.contact_key references reporters"
        columns = [c.strip() for c in CASE_COLUMNS.split(",")]
        self.cases[row["case_id"]] = {**dict.fromkeys(columns), "description": "", "media_url": [],
                                      "workflow_status": "new", **row}

    async def insert_message(self, row: dict[str, Any]) -> None:
        assert not any((m["channel"], m["channel_message_id"]) == (row["channel"], row["channel_message_id"])
                       for m in self.messages), "messages are unique per channel message"
        self.messages.append(row)

    async def open_case(self, reporter: tuple[str, str, dict[str, Any], datetime], case_row: dict[str, Any],
                        message_row: dict[str, Any], *, at: datetime, event_id: UUID | None,
                        entries: list[tuple[str, dict[str, Any]]]) -> None:
        assert entries, "a case opens with at least one timeline entry"
        await self.upsert_reporter(*reporter)
        await self.insert_case(case_row)
        await self.insert_message(message_row)
        for kind, detail in entries:
            await self.add_timeline(case_row["case_id"], at, kind, event_id, detail)

    async def change_case(self, case_id: UUID, fields: dict[str, Any], *, at: datetime, event_id: UUID | None,
                          entries: list[tuple[str, dict[str, Any]]], clock: dict[str, Any] | None = None) -> None:
        assert fields and entries, "a change sets a column and writes a timeline entry"
        assert clock is None, "the recording clocks save nothing"
        await self.update_case(case_id, fields)
        for kind, detail in entries:
            await self.add_timeline(case_id, at, kind, event_id, detail)

    async def case_with_clock(self, case_id: UUID) -> dict[str, Any] | None:
        return await self.get_case(case_id, for_update=True)

    async def message_by_key(self, channel: str, channel_message_id: str) -> dict[str, Any] | None:
        m = next((m for m in self.messages if (m["channel"], m["channel_message_id"]) == (channel, channel_message_id)),
                 None)
        return {k: m[k] for k in ("message_id", "case_id", "description", "media_url")} if m else None

    async def record_withdrawal(self, row: dict[str, Any]) -> bool:
        key = (row["channel"], row["channel_message_id"])
        if key in self.withdrawals:
            return False
        self.withdrawals[key] = {"case_id": None, "applied_at": None, **row}
        return True

    def _pending_withdrawal(self, channel: str, channel_message_id: str) -> bool:
        w = self.withdrawals.get((channel, channel_message_id))
        return w is not None and w["applied_at"] is None

    async def apply_withdrawal(self, channel: str, channel_message_id: str, case_id: UUID, at: datetime) -> None:
        assert case_id in self.cases
        self.withdrawals[(channel, channel_message_id)].update(case_id=case_id, applied_at=at)

    # the retention SQL the withdrawal reuses
    async def erase_message(self, message_id: UUID, description: str) -> None:
        m = next(m for m in self.messages if m["message_id"] == message_id)
        m.update(description=description, media_url=[])

    async def erase_case_text(self, case_id: UUID, description: str, status_notes: str | None) -> None:
        self.cases[case_id].update(description=description, status_notes=status_notes, media_url=[], attributes={})

    async def forget_published_events(self, case_id: UUID) -> int:
        self.forgotten.append(case_id)
        return 0

    async def add_timeline(self, case_id: UUID, at: datetime, kind: str, event_id: UUID | None,
                           detail: dict[str, Any]) -> None:
        self.timeline.append({"case_id": case_id, "at": at, "kind": kind, "event_id": event_id, "detail": detail})

    async def has_timeline_entry(self, case_id: UUID, kind: str, key: str, value: str) -> bool:
        return any(t["detail"].get(key) == value for t in self.entries(case_id, kind))

    async def get_case(self, case_id: UUID, *, for_update: bool = False) -> dict[str, Any] | None:
        case = self.cases.get(case_id)
        return dict(case) if case else None

    async def case_by_number(self, service_request_id: str, *, for_update: bool = False) -> dict[str, Any] | None:
        case = next((c for c in self.cases.values() if c["service_request_id"] == service_request_id), None)
        return dict(case) if case else None

    async def add_follower(self, row: dict[str, Any]) -> bool:
        assert row["case_id"] in self.cases and row["contact_key"] in self.reporters
        if any((f["case_id"], f["contact_key"]) == (row["case_id"], row["contact_key"]) for f in self.followers):
            return False
        self.followers.append(dict(row))
        return True

    async def followers_of(self, case_id: UUID) -> list[str]:
        return [f["contact_key"] for f in self.followers if f["case_id"] == case_id]

    async def survey_answer_outcome(self, channel_message_id: str) -> str | None:
        answer = self.survey_answers.get(channel_message_id)
        return answer["outcome"] if answer else None

    async def insert_survey_answer(self, row: dict[str, Any]) -> bool:
        assert row["case_id"] in self.cases
        if row["channel_message_id"] in self.survey_answers:
            return False
        self.survey_answers[row["channel_message_id"]] = dict(row)
        return True

    async def update_case(self, case_id: UUID, fields: dict[str, Any]) -> None:
        self.cases[case_id].update(fields)

    async def case_state(self, case_id: UUID) -> CaseState | None:
        self.locks.append(case_id)
        c = self.cases.get(case_id)
        return CaseState(c["case_id"], c["status"], c["merged_into"], c["opened_at"]) if c else None

    async def lock_cases(self, case_ids: list[UUID]) -> None:
        for case_id in case_ids:
            await self.case_state(case_id)

    async def merge_chain(self, case_id: UUID, limit: int = 20) -> list[CaseState]:
        state, chain = await self.case_state(case_id), []
        while state is not None and len(chain) < limit:
            chain.append(state)
            state = await self.case_state(state.merged_into) if state.merged_into else None
        return chain

    async def record_outbound(self, provider_message_id: str, case_id: UUID) -> None:
        self.outbound.setdefault(provider_message_id, case_id)

    async def reporters_of(self, case_id: UUID, limit: int = 20) -> list[str]:
        keys, level, depth = [], [case_id], 0
        while level and depth <= limit:
            cases = sorted((self.cases[i] for i in level), key=lambda c: c["opened_at"])
            keys += [c["contact_key"] for c in cases]
            level = [c["case_id"] for c in self.cases.values() if c["merged_into"] in set(level)]
            depth += 1
        return list(dict.fromkeys(keys))

    async def insert_suggestion(self, row: dict[str, Any]) -> bool:
        if any(s["event_id"] == row["event_id"] for s in self.suggestions.values()):
            return False
        assert row["case_id"] in self.cases and row["duplicate_of"] in self.cases
        self.suggestions[row["id"]] = {"status": "pending", "decided_by": None, "decided_at": None, "reason": None,
                                       **row}
        return True

    async def pending_suggestion(self, case_id: UUID, duplicate_of: UUID) -> UUID | None:
        return next((s["id"] for s in self.suggestions.values()
                     if (s["case_id"], s["duplicate_of"], s["status"]) == (case_id, duplicate_of, "pending")), None)

    async def get_suggestion(self, suggestion_id: UUID) -> dict[str, Any] | None:
        s = self.suggestions.get(suggestion_id)
        return dict(s) if s else None

    async def decide_suggestion(self, suggestion_id: UUID, *, status: str, decided_by: str, decided_at: datetime,
                                reason: str | None) -> None:
        self.suggestions[suggestion_id].update(status=status, decided_by=decided_by, decided_at=decided_at,
                                               reason=reason)

    async def record_forwarded(self, row: dict[str, Any]) -> None:
        assert row["case_id"] in self.cases
        held = self.external.setdefault((row["case_id"], row["endpoint"]), {"forwarded_at": row["forwarded_at"]})
        held.update({k: v for k, v in row.items() if v is not None and k != "forwarded_at"})
        held["forwarded_at"] = held["forwarded_at"] or row["forwarded_at"]

    async def record_reported_status(self, case_id: UUID, endpoint: str, *, external_service_request_id: str,
                                     status: str, agency_responsible: str | None, updated_datetime: datetime | None,
                                     reported_at: datetime) -> None:
        assert case_id in self.cases and status in ("open", "closed")
        held = self.external.setdefault((case_id, endpoint), {"case_id": case_id, "endpoint": endpoint})
        held.setdefault("external_service_request_id", external_service_request_id)
        held.update(last_status=status, last_agency_responsible=agency_responsible,
                    last_updated_datetime=updated_datetime, last_reported_at=reported_at)

    # --- what the tests read ---

    def entries(self, case_id: UUID, kind: str | None = None) -> list[dict[str, Any]]:
        return [t for t in self.timeline if t["case_id"] == case_id and kind in (None, t["kind"])]




class RecordingClocks:
    """The SLA clock hooks (`handlers.Clocks`), recording each call as (hook, case number, workflow status
    of the case passed, due time for `armed`, recorded as "arm")."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, Any]] = []

    async def armed(self, uow: Any, case_row: dict[str, Any], due_at: Any, *, jurisdiction: Any) -> None:
        self.calls.append(("arm", case_row["service_request_id"], case_row["workflow_status"], due_at))

    async def pause(self, uow: Any, case_row: dict[str, Any]) -> None:
        self.calls.append(("pause", case_row["service_request_id"], case_row["workflow_status"], None))

    async def resume(self, uow: Any, case_row: dict[str, Any], *, jurisdiction: Any) -> None:
        self.calls.append(("resume", case_row["service_request_id"], case_row["workflow_status"], None))

    async def stop(self, uow: Any, case_row: dict[str, Any]) -> None:
        self.calls.append(("stop", case_row["service_request_id"], case_row["workflow_status"], None))

    def hooks(self) -> list[str]:
        return [c[0] for c in self.calls]


Store = FakeStore[FakeCaseRepository]
