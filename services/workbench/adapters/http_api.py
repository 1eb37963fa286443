"""HTTP clients of the APIs the workbench works through, each call carrying the signed-in user's bearer token:
the case service's staff API (``/staff/*``, docs/staff-work.md), intake_web's JSON agent API (``/agent/*``)
and the notifier's profile API (``/staff/profiles``, docs/integrations.md section 3).

The workbench writes nothing itself: the case service stays the single writer of cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from shared.http_client import PooledHttpClient

CASE_API_TIMEOUT_S = 10.0
"""How long one call of the case service's staff API may take (seconds) before the page says it is unavailable."""
AGENT_API_TIMEOUT_S = 5.0
"""How long one call of intake_web's agent API may take (seconds): an agent is on the line."""


class ApiError(Exception):
    """An API answered with an error (`status` 4xx/5xx) or did not answer (`status` 503, `unavailable`).

    `message` is the API's own explanation (FastAPI ``detail``, an Open311 error list's descriptions, or
    the body's text), shown to the staff member as is."""

    def __init__(self, status: int, message: str, *, unavailable: bool = False) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.unavailable = unavailable


def error_message(response: httpx.Response) -> str:
    """The readable explanation in an error answer: ``detail`` (a string, or FastAPI's 422 list of
    ``{loc, msg}``), ``message``, ``error``, an Open311 list of ``{description}``, else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, list):
        texts = [str(e.get("description") or e.get("msg") or e) for e in body if isinstance(e, Mapping)]
        return "; ".join(texts) or response.reason_phrase
    if isinstance(body, Mapping):
        for key in ("detail", "message", "error", "errors"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, list) and value:
                parts = []
                for item in value:
                    if isinstance(item, Mapping):
                        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                        text = str(item.get("msg") or item.get("description") or item.get("message") or item)
                        parts.append(f"{where}: {text}" if where else text)
                    else:
                        parts.append(str(item))
                return "; ".join(parts)
            if isinstance(value, Mapping) and value.get("message"):
                return str(value["message"])
    return response.reason_phrase


class _Client(PooledHttpClient):
    def __init__(self, base_url: str, timeout_s: float, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url.rstrip("/"), timeout_s, transport=transport)

    async def call(self, method: str, path: str, token: str, *,
                   params: Mapping[str, str] | list[tuple[str, str]] | None = None, json: Any = None) -> Any:
        """One call with ``Authorization: Bearer <token>``; the decoded JSON answer (None for an empty one).

        Raises `ApiError` for an answer of 400 or more (its status and message); with status 414 (400 for
        another reason) and the API unasked when the question cannot be a URL (httpx's `InvalidURL`: e.g.
        a filter of 30 000 '/' sent on as %2F is over 65 536 characters; a 500 before, issue 12 kind 8);
        with status 503 and `unavailable` set, when the API does not answer in time or cannot be reached."""
        if self._http is None:
            await self.start()
        assert self._http is not None
        try:
            response = await self._http.request(method, path, params=params, json=json,
                                                headers={"Authorization": f"Bearer {token}",
                                                         "Accept": "application/json"})
        except httpx.InvalidURL as exc:
            raise ApiError(414 if "too long" in str(exc) else 400, "the question is too long or malformed for a "
                           f"URL ({exc})") from exc
        except httpx.HTTPError as exc:
            raise ApiError(503, f"{self.base_url} did not answer ({type(exc).__name__})", unavailable=True) from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, error_message(response),
                           unavailable=response.status_code in (502, 503, 504))
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(502, f"{self.base_url} answered something that is not JSON") from exc


def _rows(found: Any, path: str) -> list[dict[str, Any]]:
    """A list answer of the staff API (docs/staff-work.md: `GET /staff/cases` and `/staff/suggestions` answer
    a JSON list); `ApiError` (502) for anything else, rather than guessing at another shape."""
    if not isinstance(found, list):
        raise ApiError(502, f"{path} answered {type(found).__name__}, not a list")
    return found


def _sid(sid: str) -> str:
    return quote(sid, safe="")


class CaseStaffApi(_Client):
    """The case service's staff API (docs/staff-work.md, "Case service staff API"); every method takes the
    user's raw JWT and raises `ApiError` as `_Client.call` does."""

    def __init__(self, base_url: str, *, timeout_s: float = CASE_API_TIMEOUT_S,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, timeout_s, transport)

    async def me(self, token: str) -> dict[str, Any]:
        """``GET /staff/me``: the principal as the case service sees it."""
        return await self.call("GET", "/staff/me", token) or {}

    async def config(self, token: str) -> dict[str, Any]:
        """``GET /staff/config``: statuses (labels EN/FR, transitions), queues, services, canned responses."""
        return await self.call("GET", "/staff/config", token) or {}

    async def cases(self, token: str, query: Mapping[str, str]) -> list[dict[str, Any]]:
        """``GET /staff/cases`` with `query` (queue, assignee, status, sla_state, district, service_code,
        channel, limit): the list of case rows. Raises `ApiError` (502) for an answer that is not a list."""
        return _rows(await self.call("GET", "/staff/cases", token, params=query), "/staff/cases")

    async def case(self, token: str, sid: str) -> dict[str, Any]:
        """``GET /staff/cases/{sid}``: the case with ``sla``, ``allowed_transitions``, ``messages``,
        ``reporters``, ``merged`` and ``timeline``."""
        return await self.call("GET", f"/staff/cases/{_sid(sid)}", token) or {}

    async def act(self, token: str, sid: str, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /staff/cases/{sid}/{action}`` with `body`: the case as ``GET`` shows it afterwards."""
        return await self.call("POST", f"/staff/cases/{_sid(sid)}/{action}", token, json=dict(body)) or {}

    async def reporter_cases(self, token: str, contact_keys: list[str]) -> list[dict[str, Any]]:
        """``GET /staff/reporters/cases?contact_key=a&contact_key=b`` (docs/integrations.md section 3): every
        case of these contact keys, newest first (at most 200), each with ``service_request_id``, ``status``,
        ``workflow_status``, ``service_code``, ``service_name``, ``channel``, ``contact_key``,
        ``requested_datetime``, ``address``. Raises `ApiError` (502) for an answer without a ``cases`` list."""
        found = await self.call("GET", "/staff/reporters/cases", token,
                                params=[("contact_key", k) for k in contact_keys])
        cases = found.get("cases") if isinstance(found, Mapping) else None
        return _rows(cases, "/staff/reporters/cases")

    async def suggestions(self, token: str) -> list[dict[str, Any]]:
        """``GET /staff/suggestions?status=pending``: suggested duplicates waiting for a decision."""
        found = await self.call("GET", "/staff/suggestions", token, params={"status": "pending"})
        return _rows(found, "/staff/suggestions")

    async def decide(self, token: str, suggestion_id: str, decision: str, reason: str | None) -> Any:
        """``POST /staff/suggestions/{id}/accept`` or ``reject`` (`decision`) with an optional reason."""
        return await self.call("POST", f"/staff/suggestions/{_sid(suggestion_id)}/{decision}", token,
                               json={"reason": reason})


class AgentApi(_Client):
    """intake_web's JSON agent API (services/intake_web/README.md): log a phone request, follow its token,
    look up a caller's earlier cases; each call with the agent's bearer token."""

    def __init__(self, base_url: str, *, timeout_s: float = AGENT_API_TIMEOUT_S,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, timeout_s, transport)

    async def log_request(self, token: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /agent/requests``: ``{"token", "request_id", "agent_id", "channel"}`` (202)."""
        return await self.call("POST", "/agent/requests", token, json=dict(body)) or {}

    async def case_of(self, token: str, request_token: str) -> str | None:
        """``GET /agent/tokens/{token}``: the case number once the case is open, else None."""
        found = await self.call("GET", f"/agent/tokens/{_sid(request_token)}", token) or {}
        return found.get("service_request_id")

    async def caller_cases(self, token: str, phone: str) -> dict[str, Any]:
        """``POST /agent/callers``: ``{"phone", "available", "requests": [...]}``."""
        return await self.call("POST", "/agent/callers", token, json={"phone": phone}) or {}


INSIGHTS_API_TIMEOUT_S = 5.0
"""How long one call of the insights service may take (seconds): the dashboard asks every 2 seconds."""


class InsightsApi(_Client):
    """The insights service's dashboard API (docs/residents-and-insights.md, "Insights"), each call with the
    user's bearer token (supervisor or administrator); raises `ApiError` as `_Client.call` does."""

    def __init__(self, base_url: str, *, timeout_s: float = INSIGHTS_API_TIMEOUT_S,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, timeout_s, transport)

    async def summary(self, token: str, date_from: str | None, date_to: str | None) -> dict[str, Any]:
        """``GET /insights/summary?from=&to=`` (ISO dates in the jurisdiction's zone; either left out: the
        service's default, the last 30 days): the figures as a JSON object. `ApiError` (502) for another shape."""
        found = await self.call("GET", "/insights/summary", token, params=_range(date_from, date_to))
        if not isinstance(found, Mapping):
            raise ApiError(502, f"/insights/summary answered {type(found).__name__}, not an object")
        return dict(found)

    async def hotspots(self, token: str, date_from: str | None, date_to: str | None,
                       service_code: str | None = None, *, points: bool = True) -> dict[str, Any]:
        """``GET /insights/hotspots?from=&to=&service_code=``: ``points`` ([lat, long], at most 20 000, newest
        first; left out with `points` False, ``points=false``), ``point_count``, the counts per district and
        ``version``. `ApiError` (502) for an answer that is not an object."""
        params = _range(date_from, date_to)
        if service_code:
            params["service_code"] = service_code
        if not points:
            params["points"] = "false"
        found = await self.call("GET", "/insights/hotspots", token, params=params)
        if not isinstance(found, Mapping):
            raise ApiError(502, f"/insights/hotspots answered {type(found).__name__}, not an object")
        return dict(found)


def _range(date_from: str | None, date_to: str | None) -> dict[str, str]:
    return {k: v for k, v in (("from", date_from), ("to", date_to)) if v}


class IntakeStaffApi(_Client):
    """intake_web's staff routes (docs/residents-and-insights.md, "Abuse protection"): what the public
    routes refused; each call with the user's bearer token (supervisor or administrator)."""

    def __init__(self, base_url: str, *, timeout_s: float = AGENT_API_TIMEOUT_S,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, timeout_s, transport)

    async def refusals(self, token: str, since: str | None) -> Any:
        """``GET /staff/refusals?since=`` (an ISO 8601 instant): the refusal rows (a list, or an object
        holding one; `domain.dashboard.refusal_rows` reads either)."""
        return await self.call("GET", "/staff/refusals", token, params={"since": since} if since else None)


PROFILE_API_TIMEOUT_S = 5.0
"""How long one call of the notifier's profile API may take (seconds): an agent may be on the line."""


class ProfileApi(_Client):
    """The notifier's staff profile routes (docs/integrations.md section 3), each call with the user's bearer
    token (call agent and up); raises `ApiError` as `_Client.call` does."""

    def __init__(self, base_url: str, *, timeout_s: float = PROFILE_API_TIMEOUT_S,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, timeout_s, transport)

    async def profile(self, token: str, contact_key: str) -> dict[str, Any] | None:
        """``GET /staff/profiles?contact_key=``: ``{profile_id, preferred_channel, language, contacts:
        [{contact_key, kind, masked, linked_by, linked_at}]}``; None when the key has no profile (404)."""
        try:
            found = await self.call("GET", "/staff/profiles", token, params={"contact_key": contact_key})
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(found, Mapping) or not isinstance(found.get("contacts"), list):
            raise ApiError(502, "/staff/profiles answered something that is not a profile")
        return dict(found)

    async def link(self, token: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /staff/profiles/links`` with ``{contacts: [{kind, value}, ...], preferred_channel?,
        language?}``: the profile after (contacts that had profiles join it)."""
        return await self.call("POST", "/staff/profiles/links", token, json=dict(body)) or {}

    async def preferences(self, token: str, profile_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``PATCH /staff/profiles/{profile_id}`` with ``{preferred_channel?, language?}``: the profile after."""
        return await self.call("PATCH", f"/staff/profiles/{_sid(profile_id)}", token, json=dict(body)) or {}
