"""Reading a case through the case service's HTTP API (``GET /cases/requests/{id}``), like intake_web."""

from __future__ import annotations

from typing import Any, Protocol

import httpx


class CaseApiUnavailable(Exception):
    """The case service did not answer (network error or 5xx)."""


class CaseApi(Protocol):
    async def request(self, service_request_id: str) -> dict[str, Any] | None:
        """The Open311 view of a case, None when it does not exist; raises `CaseApiUnavailable`."""


class HttpCaseApi:
    """`CaseApi` over HTTP. The client is opened by `start` (inside the app's lifespan)."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def request(self, service_request_id: str) -> dict[str, Any] | None:
        if self._client is None:
            raise CaseApiUnavailable("case API client not started")
        try:
            r = await self._client.get(f"/cases/requests/{service_request_id}")
        except httpx.HTTPError as exc:
            raise CaseApiUnavailable(repr(exc)) from exc
        if r.status_code == 404:
            return None
        if r.status_code >= 400:
            raise CaseApiUnavailable(f"case API answered {r.status_code}")
        return r.json()
