"""Download one media file from a provider's link (Twilio MMS, WhatsApp, Messenger, Instagram, Mastodon)
within limits: http(s) only, never to a private address (SSRF), at most `max_redirects` redirects,
`max_bytes` bytes and `timeout_s` seconds, and only a type we keep, sniffed from the bytes (httpx)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import unquote

import httpx

from shared.media.kinds import ALLOWED_TYPES, UNDECLARED, declared_type, kept_type

MAX_BYTES = 10 * 1024 * 1024
"""The most bytes one media file may have (10 MiB): above an MMS (Twilio: 5 MB) and a WhatsApp image or
voice note, below a long video; a larger file is refused and the provider's link kept."""

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Iterable[str]]]
"""`resolve(host, port)` → the IP addresses (text) `host` resolves to; raises `OSError` when it does not."""


class MediaRefused(ValueError):
    """The media is not one we keep: a URL that is not http(s) or names a private address, too many
    redirects, too large, or a type outside `MediaLimits.types`. `reason` is short and quotes no secret
    (never the URL's query); retrying will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MediaUnavailable(RuntimeError):
    """The media could not be fetched: a network error, a timeout, or a 4xx/5xx answer. `reason` is short
    and quotes no secret; a later try may succeed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MediaLimits:
    """What `fetch` accepts. `max_bytes`: bytes after content decoding (10 MiB); `types`: media types kept
    (`shared.media.kinds.ALLOWED_TYPES`); `max_redirects`: redirects followed (3); `timeout_s`: seconds
    for the whole download, redirects included; `allow_private`: also fetch from loopback, private,
    link-local and other non-global addresses (tests and local fakes only, never in production)."""

    max_bytes: int = MAX_BYTES
    types: tuple[str, ...] = field(default=ALLOWED_TYPES)
    max_redirects: int = 3
    timeout_s: float = 30.0
    allow_private: bool = False


@dataclass(frozen=True)
class Fetched:
    """Bytes as downloaded: `content_type` is the type the bytes show (canonical name, `kinds`),
    `filename` from Content-Disposition or the URL's last segment (None without one), `source_url` the
    URL asked for (before redirects)."""

    content: bytes
    content_type: str
    filename: str | None
    source_url: str


async def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives `host` (A and AAAA). Raises `OSError` (`socket.gaierror`)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public(address: Address) -> bool:
    """True for a globally routable unicast address: not private (RFC 1918, fc00::/7), loopback,
    link-local (169.254/16 with cloud metadata, fe80::/10), shared (100.64/10), unspecified, reserved or
    multicast; an IPv6 address that carries an IPv4 one it routes to (IPv4-mapped ``::ffff:0:0/96``, NAT64
    ``64:ff9b::/96`` of RFC 6052, 6to4 ``2002::/16`` of RFC 3056) is judged as that IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif address in _NAT64:
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        elif address.sixtofour is not None:
            address = address.sixtofour
    return address.is_global and not address.is_multicast


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


async def fetch(client: httpx.AsyncClient, url: str, *, auth: httpx.Auth | tuple[str, str] | None = None,
                limits: MediaLimits = MediaLimits(), resolve: Resolver | None = None) -> Fetched:
    """Download `url` with `client` (GET, streamed) within `limits`; `auth` (e.g. Twilio's account SID and
    token) is sent to the URL's own origin only, never to a redirect's other host (nor the client's
    Authorization header). `resolve` replaces the system resolver (tests).

    Server-side request forgery: before each request (the first and every redirect) the host is resolved
    and every address must be public (`is_public`), and once connected the peer's address is checked again
    when the transport reports it (a DNS answer that changed in between); `limits.allow_private` lifts
    both checks. The type is the one the bytes show (`kinds.kept_type`): a declared type outside
    `limits.types` is refused before the body is read, a declared picture that is not one is refused.

    Raises `MediaRefused` (not http(s), a private address, more than `max_redirects` redirects, a
    Content-Length or body above `max_bytes`, a type we do not keep) or `MediaUnavailable` (DNS or network
    error, timeout after `timeout_s` seconds, a 4xx/5xx answer, a redirect without a location).
    """
    try:
        async with asyncio.timeout(limits.timeout_s):
            return await _fetch(client, url, auth=auth, limits=limits, resolve=resolve or system_resolve)
    except TimeoutError as exc:
        raise MediaUnavailable(f"no answer within {limits.timeout_s:g} s") from exc


async def _fetch(client: httpx.AsyncClient, url: str, *, auth: httpx.Auth | tuple[str, str] | None,
                 limits: MediaLimits, resolve: Resolver) -> Fetched:
    current = _parse(url)
    origin = _origin(current)
    for _hop in range(limits.max_redirects + 1):
        await _check_host(current, limits, resolve)
        request = client.build_request("GET", current, timeout=limits.timeout_s)
        same_origin = _origin(current) == origin
        if not same_origin:
            request.headers.pop("Authorization", None)
        hop_auth = (auth if auth is not None else httpx.USE_CLIENT_DEFAULT) if same_origin else None
        try:
            response = await client.send(request, auth=hop_auth, follow_redirects=False, stream=True)
        except httpx.HTTPError as exc:
            raise MediaUnavailable(f"{type(exc).__name__} from {current.host}") from exc
        try:
            if not limits.allow_private:
                _check_peer(response, current)
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                if not location:
                    raise MediaUnavailable(f"{current.host} redirected ({response.status_code}) without a location")
                current = _parse(str(current.join(location)))
                continue
            if response.status_code >= 400 or not response.is_success:
                raise MediaUnavailable(f"{current.host} answered {response.status_code}")
            return await _body(response, url, current, limits)
        finally:
            await response.aclose()
    raise MediaRefused(f"more than {limits.max_redirects} redirects")


async def _body(response: httpx.Response, source_url: str, final: httpx.URL, limits: MediaLimits) -> Fetched:
    declared = declared_type(response.headers.get("content-type"))
    if declared not in limits.types and declared not in UNDECLARED:  # refused before a byte is read
        raise MediaRefused(f"the type {declared[:60]!r} is not one we keep")
    length = response.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > limits.max_bytes:
        raise MediaRefused(f"{int(length)} bytes, more than the {limits.max_bytes} we keep")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limits.max_bytes:
                raise MediaRefused(f"more than the {limits.max_bytes} bytes we keep")
            chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise MediaUnavailable(f"{type(exc).__name__} while reading from {final.host}") from exc
    content = b"".join(chunks)
    if not content:
        raise MediaUnavailable(f"{final.host} answered no bytes")
    kept, reason = kept_type(declared, content, limits.types)
    if kept is None:
        raise MediaRefused(reason)
    return Fetched(content=content, content_type=kept, filename=_filename(response, final), source_url=source_url)


def _parse(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise MediaRefused("not a URL") from exc
    if parsed.scheme not in ("http", "https"):
        raise MediaRefused(f"only http and https links are fetched, not {parsed.scheme[:20]!r}")
    if not parsed.host:
        raise MediaRefused("a link without a host")
    return parsed


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


async def _check_host(url: httpx.URL, limits: MediaLimits, resolve: Resolver) -> None:
    if limits.allow_private:
        return
    host = url.raw_host.decode("ascii", "replace")
    try:
        addresses = [ipaddress.ip_address(url.host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0])
                         for a in await resolve(host, _origin(url)[2] or 443)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise MediaUnavailable(f"{url.host} does not resolve") from exc
    if not addresses:
        raise MediaUnavailable(f"{url.host} does not resolve")
    for address in addresses:
        if not is_public(address):
            raise MediaRefused(f"{url.host} is a private address ({address})")


def _check_peer(response: httpx.Response, url: httpx.URL) -> None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return  # a transport that does not say where it connected (tests' MockTransport)
    peer = stream.get_extra_info("server_addr")
    if not peer:
        return
    try:
        address = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return
    if not is_public(address):
        raise MediaRefused(f"{url.host} connected to a private address ({address})")


MAX_FILENAME = 200
"""The longest file name kept, in characters."""


def _filename(response: httpx.Response, url: httpx.URL) -> str | None:
    """The Content-Disposition file name (RFC 6266, ``filename*`` first), else the URL's last path segment
    when it has an extension; a base name, control characters removed, at most `MAX_FILENAME` characters."""
    name: str | None = None
    disposition = response.headers.get("content-disposition")
    if disposition:
        header = Message()
        header["content-disposition"] = disposition
        try:
            name = header.get_filename()
        except (ValueError, LookupError):
            name = None
    if not name:
        segment = unquote(url.path.rsplit("/", 1)[-1])
        name = segment if "." in segment.strip(".") else None
    if not name:
        return None
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    return name[:MAX_FILENAME] or None
