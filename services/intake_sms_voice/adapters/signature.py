"""Is this request from Twilio? ``X-Twilio-Signature`` checked with `twilio.request_validator` against
the public URL Twilio signed, which is rarely the URL this process sees behind a load balancer.

The public URL of a request:
- origin (scheme, user:password@, host, port): the configured public base URL
  (``OMNI311_TWILIO_PUBLIC_BASE_URL``) when set; else, when the peer is a configured trusted proxy
  (``OMNI311_TWILIO_TRUSTED_PROXIES``), ``X-Forwarded-Proto``/``-Host``/``-Port`` or RFC 7239
  ``Forwarded: proto=..;host=..``, each part the proxy leaves out taken from the request (its ``Host``);
  else the request's own. Forwarded headers from any other peer are ignored: anyone can send them.
  The peer and scheme are the socket's (`shared.service.socket_origin`), never those the server took
  from ``X-Forwarded-For``/``-Proto``.
- path and query: ``X-Original-URI``/``X-Forwarded-Uri`` from a trusted proxy that rewrites paths (the
  whole original path and query), else the base URL's path (or a trusted ``X-Forwarded-Prefix``)
  followed by the path and query exactly as received (still percent-encoded).

The signature is accepted when it matches that URL with or without its default port (Twilio signs
either, the library tries both), with ``'`` and ``%27`` taken as the same character (as twilio-node does),
or the URL string exactly as configured (the library lower-cases the scheme; a base URL configured in
capitals is signed in capitals). Form posts are signed over their parameters; a JSON post only through
its ``bodySHA256`` query parameter, which must hash the body.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, parse_qsl

from twilio.request_validator import RequestValidator, compare

SIGNATURE_HEADER = "x-twilio-signature"
ORIGINAL_URI_HEADERS = ("x-original-uri", "x-forwarded-uri")
_ORIGIN_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)(.*)$")


class FormParams(dict[str, list[str]]):
    """Form fields with every value of repeated keys (``Digits`` twice), as the signature needs them.
    `getall` is the accessor `RequestValidator` looks for; `first` gives one value per field."""

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> FormParams:
        """The fields of (name, value) pairs in order, repeated names keeping every value."""
        out = cls()
        for key, value in pairs:
            out.setdefault(key, []).append(value)
        return out

    def getall(self, key: str) -> list[str]:
        """Every value of field `key`, in order; raises `KeyError` when absent."""
        return self[key]

    def first(self) -> dict[str, str]:
        """One value per field: the first one sent."""
        return {k: v[0] for k, v in self.items()}


def parse_form(body: bytes) -> FormParams:
    """An ``application/x-www-form-urlencoded`` body, blanks kept (``ToCity=`` is signed too).
    Raises `UnicodeDecodeError` on a body that is not UTF-8."""
    return FormParams.from_pairs(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


@dataclass(frozen=True)
class PublicUrlPolicy:
    """How to rebuild the URL Twilio signed. `trusted_proxies`: IP addresses or CIDR networks."""

    base_url: str | None = None
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.base_url is not None and not _ORIGIN_RE.match(self.base_url.strip()):
            raise ValueError(f"public base URL must be absolute (scheme://host[/prefix]): {self.base_url!r}")
        for net in self.trusted_proxies:
            ipaddress.ip_network(net, strict=False)  # raises ValueError on a typo

    def trusts(self, peer: str | None) -> bool:
        """Whether `peer` (the connecting IP address) is one of `trusted_proxies`, whose forwarding
        headers may then say what URL Twilio signed."""
        if not peer or not self.trusted_proxies:
            return False
        try:
            ip = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(net, strict=False) for net in self.trusted_proxies)

    def public_root(self, *, scheme: str, host: str, headers: dict[str, str], peer: str | None) -> str:
        """Origin plus path prefix under which Twilio reaches this service (no trailing slash), for
        building our own action URLs."""
        origin, prefix = self._origin_prefix(scheme=scheme, host=host, headers=headers, peer=peer)
        return origin + prefix

    def _origin_prefix(self, *, scheme: str, host: str, headers: dict[str, str], peer: str | None) -> tuple[str, str]:
        trusted = self.trusts(peer)
        if self.base_url:
            m = _ORIGIN_RE.match(self.base_url.strip())
            assert m is not None
            return m.group(1), m.group(2).split("?")[0].rstrip("/")
        prefix = _first(headers.get("x-forwarded-prefix")) if trusted else ""
        prefix = "/" + prefix.strip("/") if prefix and prefix.strip("/") else ""
        if not trusted:
            return f"{scheme}://{host}", prefix
        # A trusted proxy may say any part of the origin; what it leaves out is the request's own
        # (a load balancer that keeps Host and adds only X-Forwarded-Proto/-Port is the common case).
        rfc = forwarded_element(headers.get("forwarded"))
        proto = (_first(headers.get("x-forwarded-proto")) or rfc.get("proto", "")).lower()
        if proto not in ("http", "https"):
            proto = scheme
        fhost = _first(headers.get("x-forwarded-host")) or rfc.get("host", "") or host
        port = _first(headers.get("x-forwarded-port"))
        if port.isdigit() and not re.search(r":\d+$", fhost):
            fhost = f"{fhost}:{port}"
        return f"{proto}://{fhost}", prefix

    def public_url(self, *, scheme: str, host: str, raw_path: str, query: str, headers: dict[str, str],
                   peer: str | None) -> str:
        """The URL Twilio requested, as it signed it. `headers` with lower-case names."""
        origin, prefix = self._origin_prefix(scheme=scheme, host=host, headers=headers, peer=peer)
        if self.trusts(peer):
            for name in ORIGINAL_URI_HEADERS:
                original = (headers.get(name) or "").strip()
                if original.startswith("/"):
                    return origin + original
        return origin + prefix + raw_path + (f"?{query}" if query else "")


def _first(value: str | None) -> str:
    """The client-side value of a forwarded header that proxies appended to (``https, http``)."""
    return (value or "").split(",")[0].strip()


def forwarded_element(value: str | None) -> dict[str, str]:
    """The client-side element of an RFC 7239 ``Forwarded`` header (``for=192.0.2.60;proto=https;
    host=city.example, for=10.0.0.1``) as lower-case parameter names to unquoted values; {} when absent."""
    out: dict[str, str] = {}
    for pair in (value or "").split(",")[0].split(";"):
        name, sep, val = pair.partition("=")
        if sep:
            out[name.strip().lower()] = val.strip().strip('"')
    return out


def url_variants(url: str) -> Iterator[str]:
    """`url`, then with ``'`` percent-encoded and decoded (twilio-node's URL equivalence)."""
    seen = {url}
    yield url
    for variant in (url.replace("'", "%27"), url.replace("%27", "'")):
        if variant not in seen:
            seen.add(variant)
            yield variant


def signature_valid(token: str, url: str, *, signature: str | None, form: FormParams | None,
                     body: bytes) -> bool:
    """Whether `signature` is Twilio's signature of this request at `url` with `token`.

    `form` is the parsed form for form posts, None for other bodies (JSON): those are accepted only
    with a ``bodySHA256`` query parameter equal to the hex SHA-256 of `body` (or with an empty body).
    """
    if not signature or not token:
        return False
    validator = RequestValidator(token)
    query = parse_qs(url.split("?", 1)[1]) if "?" in url else {}
    if form is None:
        if "bodySHA256" in query:
            text = body.decode("utf-8", errors="surrogateescape")
            if not compare(validator.compute_hash(text), query["bodySHA256"][0]):
                return False
        elif body.strip():
            return False  # an unsigned body: nothing covers it
    params = form if form is not None else {}
    for candidate in url_variants(url):
        if validator.validate(candidate, params, signature):
            return True
        if compare(validator.compute_signature(candidate, params), signature):
            return True
    return False
