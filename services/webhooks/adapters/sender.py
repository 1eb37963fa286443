"""The HTTP side of a webhook: the address check of a subscription's URL (server-side request forgery) and
one signed `POST` per attempt (httpx), redirects never followed.

The address check reuses `shared.media.fetch`'s rule (`is_public`, `system_resolve`): every address the
host resolves to must be globally routable; the attempt connects to the first address checked (the URL's
host stays the Host header and the TLS name), and once connected the peer's address is checked again."""

from __future__ import annotations

import asyncio
import ipaddress
import time

import httpx

from services.webhooks.domain import Outcome
from shared.media.fetch import Resolver, is_public, system_resolve


class UrlRefused(ValueError):
    """A subscription URL we do not send to: not http(s) (https only unless private addresses are allowed),
    no host, or a host that does not resolve or resolves to a private, loopback or link-local address.
    `reason` is short and quotes no query string."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookSender:
    """Sends attempts with one `httpx.AsyncClient` (made on first use, closed by `aclose`): `timeout_s` for
    the whole attempt, `allow_private` lifts the address checks and allows plain http (development and tests
    only; the settings refuse it in production), `resolve` replaces the system resolver and `transport` the
    network (tests)."""

    def __init__(self, *, timeout_s: float, allow_private: bool, resolve: Resolver | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self._resolve = resolve or system_resolve
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # Without private addresses, each attempt connects to the address it checked: a kept connection,
            # pooled by address alone, would carry another host's request over a TLS session named for this one.
            limits = httpx.Limits() if self.allow_private else httpx.Limits(max_keepalive_connections=0)
            self._client = httpx.AsyncClient(transport=self._transport, follow_redirects=False,
                                             timeout=self.timeout_s, trust_env=False, limits=limits)
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def check_url(self, url: str) -> None:
        """Raises `UrlRefused` when `url` is not one we send to (see the class); returns otherwise."""
        await self._checked(url)

    async def _checked(self, url: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        """The public addresses `url`'s host resolves to (none when private addresses are allowed: the
        request then resolves as usual); raises `UrlRefused`."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise UrlRefused("not a URL") from None
        allowed = ("http", "https") if self.allow_private else ("https",)
        if parsed.scheme not in allowed:
            raise UrlRefused(f"the URL must be {' or '.join(allowed)}, not {parsed.scheme[:20]!r}")
        if not parsed.host:
            raise UrlRefused("a URL without a host")
        if parsed.userinfo:
            raise UrlRefused("a URL with credentials in it")
        if self.allow_private:
            return []
        try:
            addresses = [ipaddress.ip_address(parsed.host)]
        except ValueError:
            try:
                port = parsed.port or (443 if parsed.scheme == "https" else 80)
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in await self._resolve(parsed.host, port)]
            except (OSError, UnicodeError, ValueError):
                raise UrlRefused(f"{parsed.host} does not resolve") from None
        if not addresses:
            raise UrlRefused(f"{parsed.host} does not resolve")
        for address in addresses:
            if not is_public(address):
                raise UrlRefused(f"{parsed.host} is a private address ({address})")
        return addresses

    async def post(self, url: str, headers: dict[str, str], body: str) -> Outcome:
        """One attempt: `POST url` with `headers` and `body` (UTF-8). Never raises: a refused URL, a network
        error, a timeout, a redirect or any non-2xx answer is an `Outcome` that is not delivered, with a
        short reason (no secret, no query string). `timeout_s` bounds the whole attempt, from the connection
        to the answer's status line and headers (the body is never read)."""
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            addresses = await self._checked(url)
        except UrlRefused as exc:
            return Outcome(http_status=None, error=f"refused: {exc.reason}"[:300], duration_ms=took())
        target, extensions = url, {}
        if addresses:
            # Connect to the address just checked, not to what a second lookup answers (DNS rebinding would
            # deliver the body to an inside address before the peer check below): the Host header and the
            # TLS name (SNI and the certificate's check) stay the URL's host.
            parsed = httpx.URL(url)
            target = str(parsed.copy_with(host=str(addresses[0])))
            headers = {**headers, "host": parsed.netloc.decode("ascii")}
            if parsed.scheme == "https":
                extensions = {"sni_hostname": parsed.host}
        try:
            # httpx's timeout bounds each read, not the attempt: a receiver trickling its headers a byte at a
            # time would hold the delivery round (every subscription) past the message's lease.
            async with asyncio.timeout(self.timeout_s), self._http().stream(
                    "POST", target, headers=headers, content=body.encode("utf-8"), extensions=extensions) as response:
                if not self.allow_private and (peer := _peer(response)) is not None and not is_public(peer):
                    return Outcome(http_status=None, error=f"refused: connected to a private address ({peer})",
                                   duration_ms=took())
                status = response.status_code
        except (httpx.TimeoutException, TimeoutError):
            return Outcome(http_status=None, error=f"no answer within {self.timeout_s:g} s", duration_ms=took())
        except httpx.HTTPError as exc:
            return Outcome(http_status=None, error=f"{type(exc).__name__}"[:300], duration_ms=took())
        error = None if 200 <= status < 300 else (
            f"redirect {status} (not followed)" if 300 <= status < 400 else f"HTTP {status}")
        return Outcome(http_status=status, error=error, duration_ms=took())


def _peer(response: httpx.Response) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return None
    try:
        return ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return None
