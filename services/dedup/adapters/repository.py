"""SQL access to the `dedup` schema (the PostGIS projection of cases and the decision log), on the
connection of the caller's transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import asyncpg

from services.dedup.domain import Candidate, ProjectedCase, Search, TargetChange
from shared.events import DedupDecided, DedupSuggested


MAX_CHAIN = 32
"""At most this many merges are followed from a case to the surviving case of its incident (a cycle ends)."""


def _lock_key(service_code: str) -> int:
    """A 64-bit advisory lock key per category (signed, as PostgreSQL's bigint)."""
    return int.from_bytes(hashlib.sha256(f"dedup:{service_code}".encode()).digest()[:8], "big", signed=True)


def lock_keys(service_codes: Iterable[str]) -> list[int]:
    """The advisory lock keys of `service_codes`, each once, in ascending order: the one order every
    transaction takes its category locks in, so that two of them never wait on each other."""
    return sorted({_lock_key(code) for code in service_codes})


class DedupRepository:
    """The projection (`cases`, one row per case), the decision log (`decisions`, one row per case: a merge
    or a suggestion) and the pairs staff unmerged (`unmerged_pairs`), on
    `conn` (in the caller's transaction). Distances are metres, times UTC. Every method raises
    `asyncpg.PostgresError` when its statement fails (the unit of work then rolls back)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_categories(self, service_codes: Iterable[str]) -> None:
        """Hold the lock of each of `service_codes` until the transaction ends (one decision at a time per
        category, so that two reports arriving together cannot miss each other), all taken in one statement
        in ascending key order (`lock_keys`): two transactions that each take every lock they need this way,
        before any other, wait for one another at most, never deadlock. Waits as long as another
        transaction holds one of them."""
        keys = lock_keys(service_codes)
        if keys:  # the locks are taken in the array's order (a function scan; ORDER BY n states it)
            await self.conn.execute("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY "
                                    "AS t(k, n) ORDER BY n", keys)

    async def lock_category(self, service_code: str) -> None:
        """`lock_categories` for one category (the candidate query benchmark takes it as the service does)."""
        await self.lock_categories([service_code])

    async def candidates(self, search: Search) -> list[Candidate]:
        """Located cases of the search's category, other than the case itself, within `radius_m` metres
        (geodesic, PostGIS geography) of its point and requested inside its window, that are open and
        duplicate nothing, or were merged into an incident whose surviving case (the root of the chain of
        `duplicate_of`, at most `MAX_CHAIN` links) is open, duplicates nothing and is not the case itself;
        such a member carries its survivor as `incident_id`. Each carries its own `reporter` (a member's, not
        its survivor's; None: unknown). The `limit` nearest, nearest first."""
        rows = await self.conn.fetch(
            """
            WITH RECURSIVE near AS (
                SELECT case_id, service_request_id, description, requested_datetime, duplicate_of, open, reporter,
                       ST_Distance(geog, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) AS distance_m
                FROM cases
                WHERE location_known AND service_code = $1 AND case_id <> $4
                  AND (duplicate_of IS NOT NULL OR open)
                  AND ST_DWithin(geog, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography, $5)
                  AND requested_datetime BETWEEN $6 AND $7
            ), chain(member, root, depth) AS (
                SELECT case_id, duplicate_of, 1 FROM near WHERE duplicate_of IS NOT NULL
                UNION ALL
                SELECT chain.member, c.duplicate_of, chain.depth + 1
                FROM chain JOIN cases c ON c.case_id = chain.root
                WHERE c.duplicate_of IS NOT NULL AND chain.depth < $9
            ), roots AS (
                SELECT DISTINCT ON (member) member, root FROM chain ORDER BY member, depth DESC
            )
            SELECT n.case_id, n.service_request_id, n.description, n.requested_datetime, n.distance_m, n.reporter,
                   r.case_id AS incident_id, r.service_request_id AS incident_service_request_id
            FROM near n
            LEFT JOIN roots ON roots.member = n.case_id
            LEFT JOIN cases r ON r.case_id = roots.root
            WHERE (n.duplicate_of IS NULL AND n.open)
               OR (r.open AND r.duplicate_of IS NULL AND r.case_id <> $4)
            ORDER BY n.distance_m, n.case_id LIMIT $8
            """,
            search.service_code, search.point.long, search.point.lat, search.case_id, search.radius_m,
            search.since, search.until, search.limit, MAX_CHAIN,
        )
        return [Candidate(**dict(r)) for r in rows]

    async def project(self, case: ProjectedCase) -> None:
        """Add the case to the projection, open. A case already there (routed again, e.g. once a message
        gave it a place) gets its category, text and location replaced, and its reporter when the new
        routing names one (an unknown one keeps the known); whether it is open, its opening time and what
        it duplicates stay as they were."""
        point = case.point
        await self.conn.execute(
            """
            INSERT INTO cases (case_id, service_request_id, service_code, description, geog, location_known,
                               requested_datetime, duplicate_of, reporter)
            VALUES ($1, $2, $3, $4,
                    CASE WHEN $5::float8 IS NULL THEN NULL
                         ELSE ST_SetSRID(ST_MakePoint($5, $6), 4326)::geography END,
                    $7, $8, $9, $10)
            ON CONFLICT (case_id) DO UPDATE SET service_code = EXCLUDED.service_code,
                description = EXCLUDED.description, geog = EXCLUDED.geog,
                location_known = EXCLUDED.location_known,
                reporter = COALESCE(EXCLUDED.reporter, cases.reporter)
            """,
            case.case_id, case.service_request_id, case.service_code, case.description,
            point.long if point else None, point.lat if point else None, case.location_known,
            case.requested_datetime, case.duplicate_of, case.reporter,
        )

    async def add_decision(self, decided: DedupDecided | DedupSuggested, *, decided_at: datetime,
                           event_id: UUID) -> None:
        """Log a case's first duplicate decision, a merge (`DedupDecided`) or a suggestion for staff review
        (`DedupSuggested`); a later one for the same case is not logged."""
        kind = "suggestion" if isinstance(decided, DedupSuggested) else "merge"
        await self.conn.execute(
            "INSERT INTO decisions (case_id, duplicate_of, score, distance_m, text_similarity, decided_at, event_id, "
            "kind) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (case_id) DO NOTHING",
            decided.case_id, decided.duplicate_of, decided.score, decided.distance_m, decided.text_similarity,
            decided_at, event_id, kind,
        )

    async def change_target(self, change: TargetChange) -> None:
        """Set whether a projected case is open and, when the change names one, what it duplicates (or,
        with `clear_duplicate`, that it duplicates nothing); a case the projection does not hold is left
        alone."""
        await self.conn.execute(
            "UPDATE cases SET open = $2, "
            "duplicate_of = CASE WHEN $4 THEN NULL ELSE COALESCE($3, duplicate_of) END WHERE case_id = $1",
            change.case_id, change.open, change.duplicate_of, change.clear_duplicate,
        )

    async def remember_unmerge(self, pair: tuple[UUID, UUID], *, unmerged_at: datetime, event_id: UUID) -> None:
        """Keep a pair staff unmerged (smaller id first, as `unmerged_pair` orders it); once is enough."""
        await self.conn.execute(
            "INSERT INTO unmerged_pairs (case_a, case_b, unmerged_at, event_id) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (case_a, case_b) DO NOTHING",
            pair[0], pair[1], unmerged_at, event_id,
        )

    async def recent_descriptions(self, limit: int) -> list[str]:
        """The texts of the `limit` most recently requested cases with a text (to fit the text measure's IDF)."""
        rows = await self.conn.fetch(
            "SELECT description FROM cases WHERE description <> '' ORDER BY requested_datetime DESC LIMIT $1", limit)
        return [r["description"] for r in rows]

    async def unmerged_with(self, case_id: UUID) -> set[UUID]:
        """The cases staff unmerged from `case_id` or it from them: never to be matched with it again."""
        rows = await self.conn.fetch(
            "SELECT case_b AS other FROM unmerged_pairs WHERE case_a = $1 "
            "UNION SELECT case_a FROM unmerged_pairs WHERE case_b = $1",
            case_id,
        )
        return {r["other"] for r in rows}
