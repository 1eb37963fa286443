"""intake_web's staff read of what its public routes refused: ``GET /staff/refusals?since=&limit=`` (the
per-minute rows of `intake_web.refusals`, docs/residents-and-insights.md "Abuse protection"). A staff bearer
JWT (`shared.auth`) with the role supervisor or administrator: none or an invalid one gets 401
(``WWW-Authenticate: Bearer``), another role 403."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from services.intake_web.entrypoints.http import MEDIA, AppDeps, Refusals, documented
from shared.auth import Principal, Role, require

DEFAULT_SPAN = timedelta(hours=24)
"""What `since` defaults to: the last 24 hours."""
MAX_ROWS = 5000

Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR, Role.ADMINISTRATOR))]

router = APIRouter()


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type=MEDIA["json"],
                    headers={"Cache-Control": "no-store"})


def _instant(text: str) -> datetime | None:
    """`text` as an aware UTC time, or None when it is not ISO 8601 with an offset (or out of range)."""
    try:
        at = datetime.fromisoformat(text)
        return at.astimezone(UTC) if at.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


@router.get("/staff/refusals", **documented(Refusals, "The refusal log"))
async def get_refusals(request: Request, d: AppDeps, staff: Supervisor, since: str | None = None,
                       limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 1000) -> Response:
    """The refusal rows with a refusal at or after `since` (ISO 8601 with an offset; default 24 h ago),
    newest minute first, at most `limit` (1–5000): ``{"since", "refusals": [{"minute", "client",
    "api_key", "route", "reason", "count", "last_at"}], "truncated"}`` (`api_key`: the key's fingerprint
    or null). 400 ``{"detail"}`` for a `since` that is not such a time."""
    if since:
        start = _instant(since)
        if start is None:
            return _json({"detail": "since must be an ISO 8601 time with an offset, e.g. 2026-03-02T14:00:00Z"},
                         400)
    else:
        start = d.clock() - DEFAULT_SPAN
    rows = await request.app.state.refusals.since(start, limit + 1)
    return _json({"since": start.isoformat(), "refusals": [r.as_json() for r in rows[:limit]],
                  "truncated": len(rows) > limit})
