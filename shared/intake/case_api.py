"""The one client of the case service's read API (`/cases/...`), used by every intake service that
shows or threads onto a case: intake_web (Open311 GET routes, the agent console) and intake_sms_voice.

Answers are Open311 GeoReport v2 `ServiceRequest` models. The client is opened by `start()` inside the
app's lifespan (nothing at import time) and closed by `stop()`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import httpx
from pydantic import ValidationError

from shared.open311.models import ServiceRequest


class CaseApiUnavailable(Exception):
    """The case service did not answer: unreachable, timed out, or a 5xx."""


class CaseApi(Protocol):
    """What intake services read from the case service."""

    async def request(self, service_request_id: str) -> ServiceRequest | None:
        """One case by its number; None when there is none. Raises `CaseApiUnavailable`."""

    async def requests(self, *, service_request_id: str | None = None, service_code: str | None = None,
                       status: str | None = None, start_date: datetime | None = None,
                       end_date: datetime | None = None) -> list[ServiceRequest]:
        """Cases matching every filter given (comma-separated lists for the first three; dates aware),
        newest first. Raises `CaseApiUnavailable`."""

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        """The case number a submission token (`channel_message_id`) became; None while it is not a case
        yet. Raises `CaseApiUnavailable`."""

    async def by_contact(self, contact_key: str) -> list[ServiceRequest]:
        """The cases a reporter opened, newest first, at most 50. Raises `CaseApiUnavailable`."""


class CaseApiClient:
    """`CaseApi` over HTTP at `base_url` (e.g. `http://127.0.0.1:8081`); `timeout_s` in seconds."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response | None:
        """The answer, or None for a 404. Raises `CaseApiUnavailable` (unreachable, 5xx, client not started)
        and `httpx.HTTPStatusError` for any other 4xx (a bug on our side, never the resident's)."""
        if self._http is None:
            raise CaseApiUnavailable("case API client not started")
        try:
            r = await self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise CaseApiUnavailable(repr(exc)) from exc
        if r.status_code >= 500:
            raise CaseApiUnavailable(f"case API answered {r.status_code}")
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r

    async def request(self, service_request_id: str) -> ServiceRequest | None:
        r = await self._get(f"/cases/requests/{service_request_id}")
        return ServiceRequest.model_validate(r.json()) if r is not None else None

    async def requests(self, *, service_request_id: str | None = None, service_code: str | None = None,
                       status: str | None = None, start_date: datetime | None = None,
                       end_date: datetime | None = None) -> list[ServiceRequest]:
        params: dict[str, Any] = {k: v for k, v in (("service_request_id", service_request_id),
                                                    ("service_code", service_code), ("status", status)) if v}
        for key, value in (("start_date", start_date), ("end_date", end_date)):
            if value is not None:
                params[key] = value.isoformat()
        r = await self._get("/cases/requests", params)
        return [ServiceRequest.model_validate(x) for x in r.json()] if r is not None else []

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        r = await self._get(f"/cases/tokens/{token}", {"channel": channel})
        return r.json().get("service_request_id") if r is not None else None

    async def by_contact(self, contact_key: str) -> list[ServiceRequest]:
        r = await self._get(f"/cases/by-contact/{contact_key}")
        body = r.json() if r is not None else []
        return [ServiceRequest.model_validate(x) for x in body] if isinstance(body, list) else []

    async def earlier_cases(self, contact_key: str) -> list[ServiceRequest] | None:
        """The reporter's cases as `by_contact` lists them, or None when the case service cannot tell:
        any answer but 200 (a 404 is a case service without the endpoint, which `by_contact` reads as
        no cases) or a body that is not a list of requests. What a call agent is shown: "unavailable"
        rather than a wrong "no earlier cases". Raises `CaseApiUnavailable` (unreachable, 5xx)."""
        try:
            r = await self._get(f"/cases/by-contact/{contact_key}")
        except httpx.HTTPStatusError:
            return None
        if r is None or r.status_code != 200:
            return None
        body = r.json()
        if not isinstance(body, list):
            return None
        try:
            return [ServiceRequest.model_validate(x) for x in body]
        except ValidationError:
            return None
