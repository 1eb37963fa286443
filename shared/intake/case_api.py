"""The one client of the case service's read API (`/cases/...`), used by every intake service that
shows or threads onto a case: intake_web (Open311 GET routes, the agent console) and intake_sms_voice.

Cases come back as Open311 GeoReport v2 `ServiceRequest` models, except a reporter's earlier cases, which
are passed on as the case service sent them (the agent console shows them as they are). The client is
opened by `start()` inside the app's lifespan (nothing at import time) and closed by `stop()`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from shared.http_client import PooledHttpClient
from shared.open311 import BoundingBox, Circle, ServiceRequest

T = TypeVar("T")

MAX_ID_CHARS = 256
"""The longest case number or token asked of the case service; a longer one names nothing."""

RETRY_4XX = frozenset({408, 429})
"""4xx answers that say "not now" (Request Timeout, Too Many Requests): `CaseApiUnavailable`, not refused."""


class CaseApiUnavailable(Exception):
    """The case service gave no answer we can use: unreachable, timed out, client not started, a 5xx, a
    408 or 429, or a body that is not what the route promises (not JSON, not valid Open311). `status` is
    the HTTP status when an answer came, else None. Callers answer 503 (retry)."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.status = status


class CaseApiRefused(Exception):
    """The case service answered a 4xx other than the 404 a route uses to say "none" (and 408/429): it is
    up, and refuses what we asked (e.g. a 422 for a filter it cannot read). Callers answer 400, never 503:
    the question is at fault, not the service. `status` is that HTTP status; `detail` its body (at most 300
    characters; for logs only, it may echo the caller's input)."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(f"case API refused the request ({status})")
        self.status = status
        self.detail = detail


class CaseApiNoRoute(Exception):
    """A 404 where the case service's route never answers 404: the path we built reached no route (a wrong
    base URL, or a segment the case service's server splits, such as a token with ``/``). A bug on our
    side, not a moment to wait out: left uncaught, the caller answers 500."""


def path_segment(value: str) -> str:
    """`value` as one path segment of a case API URL: every character but letters, digits and ``-._~``
    percent-encoded (RFC 3986 §2.3), so ``?``, ``#``, ``/``, ``%`` and control characters stay inside
    the segment instead of starting a query or making a URL the HTTP client refuses."""
    return quote(value, safe="")


DOT_SEGMENTS = frozenset({".", ".."})
"""Path segments the HTTP client resolves away (RFC 3986 §5.2.4): as an id they would reach another route."""


def could_name_a_case(value: str) -> bool:
    """Whether `value` can be a case number or a submission token at all: 1 to `MAX_ID_CHARS` characters,
    every one printable (no control, format or unassigned character, no line break, no surrogate left by
    invalid UTF-8), not blank (Open311 text is stripped: a blank token is no token), and not a dot segment
    (``.``, ``..``, `DOT_SEGMENTS`). Anything else is answered "none" without asking the case service."""
    return (0 < len(value) <= MAX_ID_CHARS and value.isprintable() and not value.isspace()
            and value not in DOT_SEGMENTS)


class CaseApi(Protocol):
    """What intake services read from the case service. Every read also raises `CaseApiRefused` for a 4xx
    it does not expect (a question the case service will not answer)."""

    async def request(self, service_request_id: str, *, extensions: bool = False) -> ServiceRequest | None:
        """One case by its number; None when there is none (also for an id that cannot be one,
        `could_name_a_case`). `extensions`: with its routing facts (`extended_attributes`). Raises
        `CaseApiUnavailable`."""

    async def requests(self, *, service_request_id: str | None = None, service_code: str | None = None,
                       status: str | None = None, start_date: datetime | None = None,
                       end_date: datetime | None = None, bbox: BoundingBox | None = None,
                       near: Circle | None = None, extensions: bool = False) -> list[ServiceRequest]:
        """Cases matching every filter given (comma-separated lists for the first three; dates aware; the
        point inside `bbox` and within `near`'s radius in metres), newest first; `extensions`: each with
        its routing facts (`extended_attributes`). Raises `CaseApiUnavailable`, and `CaseApiNoRoute` for a
        404 (a wrong base URL)."""

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        """The case number a submission token (`channel_message_id`) became; None while it is not a case
        yet (or never can be, `could_name_a_case`). Raises `CaseApiUnavailable`, and `CaseApiNoRoute` for a token the path cannot carry."""

    async def earlier_cases(self, contact_key: str, *, token: str | None = None) -> list[Any]:
        """The cases a reporter opened (newest first, at most 50), each item exactly as the case service
        sent it (Open311 request JSON; nothing re-serialised or checked, so one odd item spoils nothing).
        `token` is the staff member's bearer JWT, forwarded as it is (the look-up is a staff read).
        Raises `CaseApiUnavailable` when the case service cannot tell: unreachable, any answer but 200
        (a 404 is a case service without the look-up), or a body that is not a JSON list."""


class CaseApiClient(PooledHttpClient):
    """`CaseApi` over HTTP at `base_url` (e.g. `http://127.0.0.1:8081`); `timeout_s` in seconds per read.
    `transport` replaces the network (tests: `httpx.MockTransport`). Opened by `start()`, closed by
    `stop()` (`PooledHttpClient`); reads raise `CaseApiUnavailable` while it is closed."""

    def __init__(self, base_url: str, timeout_s: float = 5.0, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(base_url, timeout_s, transport=transport)

    async def _get(self, path: str, params: dict[str, Any] | None = None, *, none_on_404: bool = True,
                   token: str | None = None) -> Any:
        """The answer's JSON, or None for a 404 when `none_on_404` (the route says "none" that way).
        Raises `CaseApiUnavailable` (unreachable, not started, a 5xx, 408 or 429, any other answer but 2xx
        or 4xx, a body that is not JSON), `CaseApiRefused` for any other 4xx (and a 414, unasked, for a
        question longer than a URL may be: httpx's `InvalidURL`, a 500 before), and `CaseApiNoRoute` for a
        404 when not `none_on_404`. Path segments taken from input must be `path_segment`s."""
        if self._http is None:
            raise CaseApiUnavailable("case API client not started")
        try:
            headers = {"Authorization": f"Bearer {token}"} if token else None
            r = await self._http.get(path, params=params, headers=headers)
        except httpx.InvalidURL as exc:  # e.g. 40 000 "/" in a filter, each sent as %2F: over 65 536 characters
            raise CaseApiRefused(414, str(exc)) from exc
        except httpx.HTTPError as exc:
            raise CaseApiUnavailable(repr(exc)) from exc
        if r.status_code == 404:
            if none_on_404:
                return None
            raise CaseApiNoRoute(f"case API has no route for {r.request.url.path}")
        if 400 <= r.status_code < 500 and r.status_code not in RETRY_4XX:
            raise CaseApiRefused(r.status_code, r.text[:300])
        if not r.is_success:
            raise CaseApiUnavailable(f"case API answered {r.status_code}", r.status_code)
        try:
            return r.json()
        except ValueError as exc:
            raise CaseApiUnavailable(f"case API answered {r.status_code} with a body that is not JSON",
                                     r.status_code) from exc

    async def request(self, service_request_id: str, *, extensions: bool = False) -> ServiceRequest | None:
        """Open311 GeoReport v2 GET Service Request, asked of ``GET /cases/requests/{id}`` (with
        ``extensions=true`` when `extensions`): the case, or None (404, or an id that cannot name a case:
        `could_name_a_case`). Raises `CaseApiUnavailable`, also for a body that is not a valid
        `ServiceRequest`."""
        if not could_name_a_case(service_request_id):
            return None
        body = await self._get(f"/cases/requests/{path_segment(service_request_id)}",
                               {"extensions": "true"} if extensions else None)
        return _valid(ServiceRequest.model_validate, body) if body is not None else None

    async def requests(self, *, service_request_id: str | None = None, service_code: str | None = None,
                       status: str | None = None, start_date: datetime | None = None,
                       end_date: datetime | None = None, bbox: BoundingBox | None = None,
                       near: Circle | None = None, extensions: bool = False) -> list[ServiceRequest]:
        """Open311 GeoReport v2 GET Service Requests, asked of ``GET /cases/requests`` (dates sent in ISO
        8601 as given; `bbox` as ``bbox=west,south,east,north``, `near` as ``lat``, ``long``, ``radius``
        in metres; ``extensions=true`` when `extensions`). Raises `CaseApiUnavailable`, also for a body that is not a list of requests,
        `CaseApiRefused` for a filter the case service will not read (its 422), and `CaseApiNoRoute` for a 404 (that route answers 200, an empty list when nothing matches)."""
        params: dict[str, Any] = {k: v for k, v in (("service_request_id", service_request_id),
                                                    ("service_code", service_code), ("status", status)) if v}
        for key, value in (("start_date", start_date), ("end_date", end_date)):
            if value is not None:
                params[key] = value.isoformat()
        if bbox is not None:
            params["bbox"] = bbox.as_param()
        if near is not None:
            params |= {"lat": repr(near.lat), "long": repr(near.long), "radius": repr(near.radius_m)}
        if extensions:
            params["extensions"] = "true"
        body = await self._get("/cases/requests", params, none_on_404=False)
        return _valid(lambda b: [ServiceRequest.model_validate(x) for x in b], body)

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        """``GET /cases/tokens/{token}?channel=``: the case number, None while there is none. That route
        answers 200 for every token, so a 404 is a path that reached no route: `CaseApiNoRoute`. None,
        unasked, for a token that cannot be one (`could_name_a_case`). Raises `CaseApiUnavailable`
        otherwise."""
        if not could_name_a_case(token):
            return None
        body = await self._get(f"/cases/tokens/{path_segment(token)}", {"channel": channel}, none_on_404=False)
        if not isinstance(body, dict) or not isinstance(body.get("service_request_id"), str | None):
            raise CaseApiUnavailable("case API answered a token with a body that is not {service_request_id}")
        return body.get("service_request_id")

    async def earlier_cases(self, contact_key: str, *, token: str | None = None) -> list[Any]:
        """``GET /cases/by-contact/{contact_key}`` with the staff member's token: the items as sent. See
        `CaseApi.earlier_cases` (a 401, 403 or any other 4xx is `CaseApiUnavailable` with that status: the
        console shows the earlier cases as unavailable and carries on)."""
        try:
            body = await self._get(f"/cases/by-contact/{path_segment(contact_key)}", token=token)
        except CaseApiRefused as exc:
            raise CaseApiUnavailable(str(exc), exc.status) from exc
        if body is None:
            raise CaseApiUnavailable("case API has no by-contact look-up", 404)
        if not isinstance(body, list):
            raise CaseApiUnavailable("case API answered earlier cases with a body that is not a list", 200)
        return body


def _valid(parse: Callable[[Any], T], body: Any) -> T:
    """`parse(body)`, a body that does not validate being `CaseApiUnavailable`."""
    try:
        return parse(body)
    except (ValidationError, TypeError) as exc:
        raise CaseApiUnavailable(f"case API answered with a body that is not Open311: {exc}"[:300]) from exc
