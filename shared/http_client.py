"""One pooled HTTP client a service opens in its lifespan and closes at shutdown (httpx), shared by the
clients of other services' APIs (the case API's readers in the intake services, the workbench's staff and
agent APIs). Nothing is opened at import time."""

from __future__ import annotations

import httpx


class PooledHttpClient:
    """An `httpx.AsyncClient` on `base_url` (e.g. ``http://127.0.0.1:8081``) with `timeout_s` seconds per
    call, opened by `start()` and closed by `stop()`; `transport` replaces the network (tests:
    `httpx.MockTransport`, `httpx.ASGITransport`). Subclasses call through `self._http` (None while closed)."""

    def __init__(self, base_url: str, timeout_s: float, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the connection pool (the app's lifespan, before the first call)."""
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s, transport=self._transport)

    async def stop(self) -> None:
        """Close the connection pool; safe to call twice."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None
