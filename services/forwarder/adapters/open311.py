"""The HTTP client of outside Open311 GeoReport v2 endpoints: ``POST requests``, ``GET tokens/{token}`` and
``GET requests?service_request_id=…``, each answered as an `Answer` (status and raw body, or why none
came). It never raises for what an endpoint does; reading the body is the domain's (`domain.answers`).
Redirects are not followed (an endpoint's URL is configured, never taken from an answer)."""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

import httpx

from services.forwarder.domain.answers import Answer

MAX_BODY_BYTES = 5 * 1024 * 1024
"""A larger answer is not read (a failure): 50 requests in GeoReport XML are a few tens of kilobytes."""


def _describe(exc: Exception) -> str:
    """A transport error in words, without the URL (which may carry a key in its query)."""
    return type(exc).__name__ + (f": {exc}" if not isinstance(exc, httpx.HTTPStatusError) and str(exc)
                                 and "?" not in str(exc) else "")


class Open311Client:
    """One pooled `httpx.AsyncClient` for every endpoint; `timeout_s` seconds per exchange, from the
    connection to the answer's last byte. `transport`
    replaces the network (tests). Opened by `start()`, closed by `stop()`."""

    def __init__(self, timeout_s: float = 15.0, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout_s = timeout_s
        self.transport = transport
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Open the connection pool."""
        self._http = httpx.AsyncClient(timeout=self.timeout_s, transport=self.transport, follow_redirects=False,
                                       headers={"User-Agent": "omni311-forwarder"})

    async def stop(self) -> None:
        """Close the connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _send(self, method: str, url: str, **kwargs: object) -> Answer:
        if self._http is None:
            return Answer(None, error="client not started")
        try:
            # httpx's timeout bounds each read: an endpoint trickling its answer would hold the whole loop
            # (every send and poll) for as long as it likes; the exchange gets `timeout_s` in all.
            async with asyncio.timeout(self.timeout_s), \
                    self._http.stream(method, url, **kwargs) as r:  # type: ignore[arg-type]
                body = bytearray()
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        return Answer(None, error=f"answer larger than {MAX_BODY_BYTES} bytes")
                return Answer(r.status_code, bytes(body))
        except TimeoutError:
            return Answer(None, error=f"no complete answer within {self.timeout_s:g} s")
        except (httpx.HTTPError, OSError, ValueError) as exc:
            return Answer(None, error=_describe(exc))

    async def post_request(self, base_url: str, fmt: str, form: list[tuple[str, str]], *,
                           idempotency_key: str) -> Answer:
        """Open311 GeoReport v2, POST Service Request: ``POST {base_url}/requests.{fmt}`` with `form`
        (urlencoded) and an ``Idempotency-Key`` header (the same on every retry of a send)."""
        return await self._send("POST", f"{base_url}/requests.{fmt}", content=urlencode(form).encode("ascii"),
                                headers={"Idempotency-Key": idempotency_key,
                                         "Content-Type": "application/x-www-form-urlencoded"})

    async def token(self, base_url: str, fmt: str, token: str, *,
                    jurisdiction_id: str | None = None) -> Answer:
        """Open311 GeoReport v2, GET request_id from a token: ``GET {base_url}/tokens/{token}.{fmt}``."""
        params = _params(jurisdiction_id)
        return await self._send("GET", f"{base_url}/tokens/{quote(token, safe='')}.{fmt}", params=params)

    async def requests(self, base_url: str, fmt: str, ids: list[str], *,
                       jurisdiction_id: str | None = None) -> Answer:
        """Open311 GeoReport v2, GET Service Requests: ``GET {base_url}/requests.{fmt}?service_request_id=a,b``
        (at most 50 ids: `shared.jurisdiction.forwarding.MAX_IDS_PER_POLL`, the caller's to keep)."""
        params = _params(jurisdiction_id) | {"service_request_id": ",".join(ids)}
        return await self._send("GET", f"{base_url}/requests.{fmt}", params=params)


def _params(jurisdiction_id: str | None) -> dict[str, str]:
    """The reads' common query: ``jurisdiction_id`` when set (no api_key: GeoReport v2 reads need none,
    and a query string ends up in logs)."""
    return {"jurisdiction_id": jurisdiction_id} if jurisdiction_id else {}
