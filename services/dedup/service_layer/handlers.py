"""Dedup handlers: keep the projection of open cases and decide duplicates.

Consumes `case.routed`, `case.merged`, `case.status_changed` from `cases.lifecycle`; produces
`dedup.decided` through the outbox.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from services.dedup.domain.scoring import Candidate, DedupPolicy, best_match
from shared.db.inbox import claim
from shared.db.outbox import enqueue
from shared.events import CaseMerged, CaseRouted, CaseStatusChanged, DedupDecided, Envelope
from shared.kafka import Delivery

SERVICE = "dedup"


@dataclass(frozen=True)
class Deps:
    """`policy_for(service_code)` gives the category's radius/window/threshold;
    `is_fallback(lat, long)` says whether a point is a jurisdiction's stand-in for "location unknown"."""

    pool: asyncpg.Pool
    policy_for: Callable[[str], DedupPolicy]
    is_fallback: Callable[[float, float], bool]


def _window(at: datetime, hours: float) -> tuple[datetime, datetime]:
    """[at - hours, at + hours], clamped to the representable range (a year-1 or year-9999 time)."""
    span = timedelta(hours=hours)
    low = at - span if at - datetime.min.replace(tzinfo=UTC) > span else datetime.min.replace(tzinfo=UTC)
    high = at + span if datetime.max.replace(tzinfo=UTC) - at > span else datetime.max.replace(tzinfo=UTC)
    return low, high


def _lock_key(service_code: str) -> int:
    return int.from_bytes(hashlib.sha256(f"dedup:{service_code}".encode()).digest()[:8], "big", signed=True)


async def on_case_routed(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Add the case to the projection and, if an open case of the same kind is near and alike, decide."""
    routed = env.payload(CaseRouted)
    code = routed.routing.service_code
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await claim(conn, SERVICE, env.event_id, topic=d.topic, partition=d.partition, offset=d.offset):
            return "duplicate"
        # One decision at a time per category, so two reports arriving together cannot miss each other.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(code))
        known = (routed.lat is not None and routed.long is not None
                 and not deps.is_fallback(routed.lat, routed.long))
        policy = deps.policy_for(code)
        match = None
        if known:
            rows = await conn.fetch(
                """
                SELECT case_id, service_request_id, description, requested_datetime,
                       ST_Distance(geog, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) AS distance_m
                FROM cases
                WHERE open AND location_known AND duplicate_of IS NULL AND service_code = $1
                  AND case_id <> $4
                  AND ST_DWithin(geog, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography, $5)
                  AND requested_datetime BETWEEN $6 AND $7
                ORDER BY distance_m LIMIT 50
                """,
                code, routed.long, routed.lat, routed.case_id, policy.radius_m,
                *_window(routed.requested_datetime, policy.window_hours),
            )
            match = best_match([Candidate(**dict(r)) for r in rows], routed.description, policy)
        await conn.execute(
            """
            INSERT INTO cases (case_id, service_request_id, service_code, description, geog, location_known,
                               requested_datetime, duplicate_of)
            VALUES ($1, $2, $3, $4,
                    CASE WHEN $5::float8 IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint($5, $6), 4326)::geography END,
                    $7, $8, $9)
            ON CONFLICT (case_id) DO UPDATE SET service_code = EXCLUDED.service_code,
                description = EXCLUDED.description, geog = EXCLUDED.geog,
                location_known = EXCLUDED.location_known
            """,
            routed.case_id, routed.service_request_id, code, routed.description,
            routed.long if known else None, routed.lat if known else None, known, routed.requested_datetime,
            match.candidate.case_id if match else None,
        )
        if match is None:
            return "unique"
        decided = DedupDecided(
            case_id=routed.case_id, duplicate_of=match.candidate.case_id, score=round(match.score, 4),
            distance_m=round(match.candidate.distance_m, 2), text_similarity=round(match.text_similarity, 4),
            window_hours=policy.window_hours, radius_m=policy.radius_m,
            evidence={"service_code": code, "duplicate_of_service_request_id": match.candidate.service_request_id,
                      "distance_score": round(match.distance_score, 4)},
        )
        await conn.execute(
            "INSERT INTO decisions (case_id, duplicate_of, score, distance_m, text_similarity, decided_at, event_id) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id) DO NOTHING",
            routed.case_id, match.candidate.case_id, decided.score, decided.distance_m, decided.text_similarity,
            now, env.event_id,
        )
        await enqueue(conn, env.caused_by(decided, subject=str(routed.case_id), producer=SERVICE, now=now),
                      schema=SERVICE)
        return "duplicate_found"


async def on_case_closed_or_changed(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """A merged or closed case is no longer a target; a reopened one is again."""
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await claim(conn, SERVICE, env.event_id, topic=d.topic, partition=d.partition, offset=d.offset):
            return "duplicate"
        if env.event_type == CaseMerged.event_type:
            merged = env.payload(CaseMerged)
            await conn.execute("UPDATE cases SET open = false, duplicate_of = $2 WHERE case_id = $1",
                               merged.case_id, merged.merged_into)
            return "closed"
        changed = env.payload(CaseStatusChanged)
        await conn.execute("UPDATE cases SET open = $2 WHERE case_id = $1", changed.case_id,
                           changed.status == "open")
        return changed.status
