"""Abuse protection for the public routes of a web service (intake_web, insights): rate limits per client
address and per Open311 ``api_key`` (the `limits` library: moving window, in-process memory, so one
replica's counts are its own), request-body limits, and the record of every refusal (a Prometheus counter
and one aggregate row per minute, client, api_key, route and reason, written through a `RefusalStore`).

Wiring (docs/residents-and-insights.md, "Abuse protection"): build an `Abuse` in ``create_app`` with
`Abuse.from_settings`, call `install(app, abuse)` (the 413 middleware and the 429 exception handler), and
include every public router with ``dependencies=[Depends(guard)]``. The guard finds the matched route's
limits in `Abuse.routes` (``"POST /report": (Limit.REPORTS_PER_CLIENT,)``); any GET or HEAD not listed
there counts against `Limit.READS`; `limited(*limits)` is the dependency of one route taking the limits it
names. `Abuse.refuse` records a refusal decided elsewhere (a spam guard); a
route may instead set ``request.state.refusal_reason`` and the middleware records it after the answer.

The client is the connection's peer as the ASGI server reports it (uvicorn's ``--forwarded-allow-ips``
decides whether ``X-Forwarded-For`` replaces it; this module never reads that header). IPv6 clients are
counted per /64, the block one subscriber usually holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import ipaddress
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from fastapi import FastAPI, Request, Response
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import CollectorRegistry, Counter
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logs import get_logger
from shared.open311 import Open311Error, render_errors
from shared.settings import Settings
from shared.web.i18n import LANGUAGE_COOKIE, choose_language

Clock = Callable[[], datetime]

READ_METHODS = frozenset({"GET", "HEAD"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Methods named as such in a route label; any other is ``OTHER`` (a label set an attacker cannot grow)."""
BODY_TOO_LARGE = "body_too_large"
"""Reason of a 413: a body over `Abuse.max_body_bytes` (or, on an upload route, over the upload limit)."""
NO_ROUTE = "(no route)"
REFUSALS_METRIC = "omni311_requests_refused"
DRAIN_MAX_BYTES = 1 << 20
"""The most bytes of a streamed body refused with 413 that are read and dropped before answering (1 MiB)."""
DRAIN_MAX_S = 2.0
"""How long (seconds) reading the rest of a refused streamed body may take before the 413 goes out anyway."""
"""Prometheus name of the refusal counter (exposed as ``omni311_requests_refused_total{route,reason}``)."""


class Limit(StrEnum):
    """A class of public route with its own limit (the settings ``OMNI311_LIMIT_*``, `limits` notation)."""

    REPORTS_PER_CLIENT = "reports_per_client"
    """``POST /requests.{fmt}`` and the portal's ``POST /report``, per client address."""
    REPORTS_PER_API_KEY = "reports_per_api_key"
    """``POST /requests.{fmt}`` per Open311 ``api_key`` (only keys the service knows; others get 403)."""
    UPLOADS = "uploads"
    """Photo uploads, per client address."""
    FOLLOWS = "follows"
    """Follow a case, answer a survey, "this answered my question", per client address."""
    READS = "reads"
    """Every public GET (pages, fragments, Open311 reads, open-data exports), per client address."""


class Throttled(Exception):
    """A request over `limit`: answered 429 with ``Retry-After: retry_after`` (whole seconds, ≥ 1)."""

    def __init__(self, limit: Limit, retry_after: int, description: str) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self.description = description
        super().__init__(f"{limit.value}: {description}; retry in {retry_after} s")


class BodyTooLarge(Exception):
    """Raised into an app reading a body past its limit (bytes); `BodyLimitMiddleware` answers 413."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body over {limit} bytes")


@dataclass(frozen=True)
class Refusal:
    """One refused request: when (aware UTC), the client (address, or IPv6 /64), the api_key's
    fingerprint (`api_key_id`) or None, the route (``"POST /requests.{fmt}"``) and the reason (a `Limit`
    value, `BODY_TOO_LARGE`, or a spam guard's reason such as ``honeypot``)."""

    at: datetime
    client: str
    api_key: str | None
    route: str
    reason: str


@dataclass(frozen=True)
class RefusalCount:
    """Refusals of one (minute, client, api_key, route, reason): `minute` is the aware UTC minute they fell
    in, `count` how many, `last_at` the latest. `api_key` is "" when there was none."""

    minute: datetime
    client: str
    api_key: str
    route: str
    reason: str
    count: int
    last_at: datetime

    def as_json(self) -> dict[str, Any]:
        """The row as `GET /staff/refusals` answers it (ISO 8601 UTC times; `api_key` null when none)."""
        return {"minute": self.minute.isoformat(), "client": self.client, "api_key": self.api_key or None,
                "route": self.route, "reason": self.reason, "count": self.count,
                "last_at": self.last_at.isoformat()}


class RefusalStore(Protocol):
    """Where refusal counts are kept (an adapter: e.g. intake_web's ``intake_web.refusals`` table)."""

    async def add(self, counts: Sequence[RefusalCount]) -> None:
        """Add each row's `count` to the stored row of its (minute, client, api_key, route, reason),
        creating it when absent (an upsert), and keep the latest `last_at`. Raises on a storage error
        (the caller keeps the counts and tries again)."""
        ...

    async def delete_before(self, before: datetime) -> int:
        """Delete the rows whose minute began before `before` (aware UTC); returns how many. Called only by a
        recorder given a retention; raises on a storage error (the recorder tries again at its next flush)."""
        ...


def api_key_id(api_key: str) -> str:
    """What is kept of an api_key in the refusal log: the first 12 hex digits of its SHA-256 (a key is a
    credential; staff who hold the keys compute the same fingerprint to tell which client it is)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def client_of(scope: Scope) -> str:
    """The client an ASGI request counts against: the peer's IPv4 address (an IPv4-mapped IPv6 one as
    IPv4), an IPv6 address's /64 network, the peer's host as given when it is not an address (a test
    client), or ``unknown`` without a peer (a UNIX socket)."""
    client = scope.get("client")
    host = str(client[0]) if client else ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def route_of(scope: Scope) -> str:
    """A request's route label, ``"<METHOD> <path template>"`` (``"POST /cases/{service_request_id}/follow"``),
    once the app has routed it (``scope["route"]``), else ``"<METHOD> (no route)"``; never the raw path, so
    metric labels and log rows stay few."""
    method = str(scope.get("method", ""))
    method = method if method in METHODS else "OTHER"
    path = getattr(scope.get("route"), "path", None)
    return f"{method} {path or NO_ROUTE}"


class RateLimits:
    """Moving-window limits per `Limit` and key (`limits` library, memory storage of this process).

    Raises `ValueError` at construction for a limit text `limits` cannot parse (e.g. ``10/fortnight``).
    """

    def __init__(self, per: Mapping[Limit, str]) -> None:
        self.items: dict[Limit, RateLimitItem] = {}
        for limit in Limit:
            try:
                self.items[limit] = parse(per[limit])
            except (KeyError, ValueError) as exc:
                raise ValueError(f"limit {limit.value}: {per.get(limit)!r} is not a `limits` rate "
                                 "(e.g. 10/minute)") from exc
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def from_settings(cls, s: Settings) -> RateLimits:
        """The limits of ``OMNI311_LIMIT_*`` (docs/residents-and-insights.md)."""
        return cls({Limit.REPORTS_PER_CLIENT: s.limit_reports_per_client,
                    Limit.REPORTS_PER_API_KEY: s.limit_reports_per_api_key,
                    Limit.UPLOADS: s.limit_uploads_per_client, Limit.FOLLOWS: s.limit_follows_per_client,
                    Limit.READS: s.limit_reads_per_client})

    def describe(self, limit: Limit) -> str:
        """The limit in words, e.g. ``at most 10 per 1 minute per client``."""
        who = "api_key" if limit is Limit.REPORTS_PER_API_KEY else "client"
        return f"at most {self.items[limit]} per {who}"

    def wait(self, limit: Limit, key: str) -> int:
        """Whole seconds until `key` has a free slot under `limit`: 0 when it has one now, else ≥ 1 (the
        oldest request in the window leaves it then). Takes nothing."""
        item = self.items[limit]
        if self._limiter.test(item, limit.value, key):
            return 0
        reset, _ = self._limiter.get_window_stats(item, limit.value, key)
        return max(1, math.ceil(reset - time.time()))

    def take(self, checks: Sequence[tuple[Limit, str]]) -> tuple[Limit, int] | None:
        """Take one slot of each (limit, key), all or none: None when every one had a slot (all now
        taken), else the first limit without one and its wait (seconds), with nothing taken. Atomic for
        coroutines of one event loop (no await inside)."""
        for limit, key in checks:
            if wait := self.wait(limit, key):
                return limit, wait
        for limit, key in checks:
            self._limiter.hit(self.items[limit], limit.value, key)
        return None


def _minute(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(second=0, microsecond=0)


class RefusalRecorder:
    """Counts each refusal (`refused`) in ``omni311_requests_refused_total{route,reason}`` on `registry`
    at once, and adds it to an in-memory aggregate per (minute, client, api_key, route, reason) that
    `flush` (every `flush_interval_s` seconds once `start`ed, and at `stop`) writes to `store`, so a flood
    costs one upsert per row per flush, never a write per request. A failed write keeps the counts for
    the next flush. At most `max_rows` aggregate rows wait; past that, new clients' refusals are counted
    under client ``*`` (never dropped). `store` None: counted only (tests, a service without a database).

    With a `retention` (a log keeps client addresses: it must not keep them for ever), a flush also deletes
    the stored rows older than `retention` (`RefusalStore.delete_before(clock() - retention)`): the first
    flush, then at most once every `prune_interval_s` seconds of `clock` (default one hour); a failed delete
    is logged and tried again at the next flush.
    """

    def __init__(self, registry: CollectorRegistry, *, store: RefusalStore | None = None,
                 flush_interval_s: float = 2.0, max_rows: int = 10_000, service: str = "web",
                 retention: timedelta | None = None, prune_interval_s: float = 3600.0,
                 clock: Clock | None = None) -> None:
        self.store = store
        self.flush_interval_s = flush_interval_s
        self.max_rows = max_rows
        self.retention = retention
        self.prune_interval_s = prune_interval_s
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self._pruned_at: datetime | None = None
        self.counter = Counter(REFUSALS_METRIC, "Requests refused by a public route's limits or spam guard",
                               ["route", "reason"], registry=registry)
        self.log = get_logger(service)
        self._pending: dict[tuple[datetime, str, str, str, str], list[Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def refused(self, refusal: Refusal) -> None:
        """Count `refusal` (never blocks, never raises)."""
        self.counter.labels(refusal.route, refusal.reason).inc()
        key = (_minute(refusal.at), refusal.client, refusal.api_key or "", refusal.route, refusal.reason)
        if key not in self._pending and len(self._pending) >= self.max_rows:
            key = (key[0], "*", *key[2:])
        row = self._pending.setdefault(key, [0, refusal.at])
        row[0] += 1
        row[1] = max(row[1], refusal.at)

    def pending(self) -> list[RefusalCount]:
        """The rows not written yet (oldest minute first)."""
        return sorted((RefusalCount(k[0], k[1], k[2], k[3], k[4], v[0], v[1]) for k, v in self._pending.items()),
                      key=lambda r: (r.minute, r.client, r.route, r.reason))

    async def flush(self) -> int:
        """Write the pending rows, then delete the expired ones when a retention is set and a prune is due;
        returns how many rows were written. On a storage error the rows stay pending (logged)."""
        if self.store is None:
            return 0
        async with self._lock:
            written = await self._write(self.store)
            await self._prune(self.store)
            return written

    async def _write(self, store: RefusalStore) -> int:
        rows, self._pending = self.pending(), {}
        if not rows:
            return 0
        try:
            await store.add(rows)
        except Exception as exc:  # noqa: BLE001 - any storage failure: keep the counts, retry later
            for r in rows:
                pending = self._pending.setdefault((r.minute, r.client, r.api_key, r.route, r.reason),
                                                   [0, r.last_at])
                pending[0] += r.count
                pending[1] = max(pending[1], r.last_at)
            self.log.warning("refusals_not_written", rows=len(rows), error=str(exc)[:300])
            return 0
        return len(rows)

    async def _prune(self, store: RefusalStore) -> None:
        if self.retention is None:
            return
        now = self.clock()
        # a clock set back (now before the last prune) counts as due, so a prune is never put off for long
        if self._pruned_at is not None and self._pruned_at <= now < self._pruned_at + timedelta(
                seconds=self.prune_interval_s):
            return
        try:
            deleted = await store.delete_before(now - self.retention)
        except Exception as exc:  # noqa: BLE001 - any storage failure: try again at the next flush
            self.log.warning("refusals_not_pruned", error=str(exc)[:300])
            return
        self._pruned_at = now
        if deleted:
            self.log.info("refusals_pruned", rows=deleted, retention_days=self.retention / timedelta(days=1))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            await self.flush()

    async def start(self) -> None:
        """Flush every `flush_interval_s` seconds until `stop`."""
        if self._task is None and self.store is not None:
            self._task = asyncio.create_task(self._loop(), name="refusals-flush")

    async def stop(self) -> None:
        """Stop the periodic flush and write what is pending (before the pool closes)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


PageRenderer = Callable[[Request, int, str, str], Response]
"""(request, status, English message, French message) → the page a portal answers a refusal with."""


@dataclass
class Abuse:
    """The limits of one web app. `routes` maps a route label (`route_of`) to the limits it takes one slot
    of; a GET/HEAD not in it takes `Limit.READS`. `api_keys` are the keys `Limit.REPORTS_PER_API_KEY`
    counts (others are refused by the route itself). `uploads` maps the route labels whose multipart
    bodies may carry files to how many (a collection of labels: one each): such a body may reach that many
    times `max_upload_bytes`, plus `max_body_bytes` for the rest of the form; every other body may reach
    `max_body_bytes`. `page` renders a portal's refusal page (default: a plain bilingual one)."""

    limits: RateLimits
    recorder: RefusalRecorder
    clock: Clock
    routes: Mapping[str, tuple[Limit, ...]] = field(default_factory=dict)
    api_keys: Collection[str] = ()
    uploads: Mapping[str, int] | Collection[str] = ()
    max_body_bytes: int = 262_144
    max_upload_bytes: int = 10_485_760
    page: PageRenderer | None = None
    _patterns: list[tuple[str, str, re.Pattern[str]]] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.uploads, Mapping):
            self.uploads = dict.fromkeys(self.uploads, 1)
        for label in sorted({*self.routes, *self.uploads}):
            method, _, template = label.partition(" ")
            self._patterns.append((label, method, compile_path(template)[0]))

    @classmethod
    def from_settings(cls, s: Settings, recorder: RefusalRecorder, *, clock: Clock,
                      routes: Mapping[str, tuple[Limit, ...]], uploads: Mapping[str, int] | Collection[str] = (),
                      api_keys: Collection[str] = ()) -> Abuse:
        """An `Abuse` with the limits and sizes of ``OMNI311_LIMIT_*`` and ``OMNI311_MAX_*_BYTES``.
        Raises `ValueError` for a limit `limits` cannot parse."""
        return cls(limits=RateLimits.from_settings(s), recorder=recorder, clock=clock, routes=dict(routes),
                   api_keys=frozenset(api_keys), uploads=uploads, max_body_bytes=s.max_body_bytes,
                   max_upload_bytes=s.max_upload_bytes)

    def limits_of(self, route: str) -> tuple[Limit, ...]:
        """The limits a request on `route` (a `route_of` label) takes a slot of."""
        if route in self.routes:
            return self.routes[route]
        return (Limit.READS,) if route.split(" ", 1)[0] in READ_METHODS else ()

    def route_label(self, scope: Scope) -> str:
        """`route_of` once routed; before, the label in `routes` or `uploads` whose template matches the
        method and path; else ``"<METHOD> (no route)"``."""
        label = route_of(scope)
        if not label.endswith(NO_ROUTE):
            return label
        method, path = scope.get("method"), scope.get("path", "")
        for known, known_method, pattern in self._patterns:
            if known_method == method and pattern.match(path):
                return known
        return label

    def body_limit(self, scope: Scope) -> int:
        """The largest body (bytes) this request may send: see the class."""
        assert isinstance(self.uploads, Mapping)
        files = self.uploads.get(self.route_label(scope), 0)
        if files and _header(scope, b"content-type").lower().startswith("multipart/"):
            return files * self.max_upload_bytes + self.max_body_bytes
        return self.max_body_bytes

    def refuse(self, scope: Scope, reason: str, *, api_key: str | None = None) -> None:
        """Record a refusal of this request (`reason`: a `Limit` value, `BODY_TOO_LARGE`, a spam guard's
        reason); `api_key` as sent (kept as its fingerprint)."""
        self.recorder.refused(Refusal(at=self.clock(), client=client_of(scope),
                                      api_key=api_key_id(api_key) if api_key else None,
                                      route=self.route_label(scope), reason=reason))

    async def check(self, request: Request, limits: tuple[Limit, ...] | None = None) -> None:
        """Take a slot of each of `limits` (default: those of the request's route, `limits_of`), or raise
        `Throttled` (the refusal recorded, nothing taken). Where `Limit.REPORTS_PER_API_KEY` applies, the
        form's (else the query's) ``api_key`` is read first: a key the service knows takes a slot of its
        key's limit instead of the per-client one (an app's server or a city's back office posts every
        report from one address: its key is the client); without a known key the per-client limit applies
        (the route then answers 403). Elsewhere the per-client limits are checked before the body is read,
        so a flood is refused unparsed."""
        if limits is None:
            limits = self.limits_of(route_of(request.scope))
        if not limits:
            return
        client = client_of(request.scope)
        api_key = None
        if Limit.REPORTS_PER_API_KEY in limits:
            api_key = await _api_key(request)
            if api_key in self.api_keys:
                keyed = {Limit.REPORTS_PER_API_KEY, Limit.REPORTS_PER_CLIENT}
                checks = [(limit, client) for limit in limits if limit not in keyed]
                checks.append((Limit.REPORTS_PER_API_KEY, api_key))
            else:
                api_key = None
                checks = [(limit, client) for limit in limits if limit is not Limit.REPORTS_PER_API_KEY]
        else:
            checks = [(limit, client) for limit in limits]
            for limit, key in checks:
                if wait := self.limits.wait(limit, key):
                    self._throttle(request, limit, wait, None)
        if over := self.limits.take(checks):
            self._throttle(request, over[0], over[1], api_key)

    def _throttle(self, request: Request, limit: Limit, wait: int, api_key: str | None) -> None:
        self.refuse(request.scope, limit.value, api_key=api_key)
        raise Throttled(limit, wait, self.limits.describe(limit))


async def _api_key(request: Request) -> str | None:
    """The form's (else the query's) ``api_key``, None when there is none. A body that is no form counts no
    key (the route answers it); `BodyTooLarge` goes up to `BodyLimitMiddleware`: swallowed, it would leave
    the route to read the body again, and a server that already gave its last chunk waits for a disconnect."""
    try:
        form = await request.form()
    except (HTTPException, MultiPartException):
        form = None
    value = form.get("api_key") if form is not None else None
    if not isinstance(value, str):
        value = request.query_params.get("api_key")
    return value or None


def abuse_of(app: Any) -> Abuse:
    """The `Abuse` `install` put on `app` (``app.state.abuse``). Raises `RuntimeError` when none was."""
    found = getattr(app.state, "abuse", None)
    if found is None:
        raise RuntimeError("shared.abuse.install(app, abuse) was not called for this app")
    return found  # type: ignore[no-any-return]


async def guard(request: Request) -> None:
    """FastAPI dependency for every public route (``dependencies=[Depends(guard)]`` on the router):
    takes the route's slots (`Abuse.limits_of`) or raises `Throttled` (→ 429 by `install`'s handler)."""
    await abuse_of(request.app).check(request)


def limited(*limits: Limit) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency for one route, whatever `Abuse.routes` says: takes a slot of each of `limits`
    or raises `Throttled`, e.g. ``@router.get("/open-data/cases.csv", dependencies=[Depends(limited(
    Limit.READS))])``."""

    async def dependency(request: Request) -> None:
        await abuse_of(request.app).check(request, limits)

    return dependency


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _is_open311(path: str) -> bool:
    return path.endswith((".json", ".xml"))


def _language(request: Request) -> str:
    """The refusal page's language, by the rules of every page (`shared.web.i18n.choose_language`)."""
    return choose_language(request.query_params.get("lang"), request.cookies.get(LANGUAGE_COOKIE),
                           accept_language=request.headers.get("accept-language"))


def _plain_page(request: Request, status: int, english: str, french: str) -> Response:
    lang = _language(request)
    title = {429: ("Too many requests", "Trop de demandes"),
             413: ("Request too large", "Demande trop volumineuse")}.get(status, ("Refused", "Refusée"))
    heading, text = (title[1], french) if lang == "fr" else (title[0], english)
    body = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(heading)}</title></head><body><main><h1>{html.escape(heading)}</h1>"
            f"<p>{html.escape(text)}</p></main></body></html>")
    return Response(body, status_code=status, media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


def refusal_response(request: Request, status: int, english: str, french: str, page: PageRenderer | None = None,
                     ) -> Response:
    """The body of a refusal, by what the client speaks: an Open311 error list on ``*.json``/``*.xml``
    paths (GeoReport v2 errors, `code` = `status`), JSON ``{"detail"}`` when the client accepts JSON, else
    `page` (a portal page; default a plain EN/FR page by ``?lang``, the ``lang`` cookie, ``Accept-Language``)."""
    path = request.url.path
    if _is_open311(path):
        fmt = "xml" if path.endswith(".xml") else "json"
        media = "text/xml; charset=utf-8" if fmt == "xml" else "application/json; charset=utf-8"
        return Response(render_errors([Open311Error(code=status, description=english)], fmt), status_code=status,
                        media_type=media)
    if "application/json" in request.headers.get("accept", ""):
        return Response(json.dumps({"detail": english}), status_code=status, media_type="application/json")
    return (page or _plain_page)(request, status, english, french)


async def throttled_handler(request: Request, exc: Exception) -> Response:
    """429 with ``Retry-After`` (whole seconds) for `Throttled` (RFC 6585 §4)."""
    assert isinstance(exc, Throttled)
    wait = exc.retry_after
    abuse = getattr(request.app.state, "abuse", None)
    response = refusal_response(
        request, 429, f"too many requests ({exc.description}); retry in {wait} s",
        f"trop de demandes ; réessayez dans {wait} s", abuse.page if abuse is not None else None)
    response.headers["Retry-After"] = str(wait)
    return response


class BodyLimitMiddleware:
    """Pure ASGI middleware: 413 for a body over `Abuse.body_limit` (the route found by `Abuse.route_label`).
    A ``Content-Length`` over the limit is refused up front, the body unread; a body without one (chunked)
    is counted while it streams and refused once the bytes received pass the limit: the app reading it
    gets `BodyTooLarge`, and whatever it would answer is replaced by the 413. Also records a refusal a
    route marked with ``request.state.refusal_reason``."""

    def __init__(self, app: ASGIApp, abuse: Abuse) -> None:
        self.app = app
        self.abuse = abuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.abuse.body_limit(scope)
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, send, limit)
            return
        received = 0
        overflowed = False
        started = False
        ended = False  # the body's last message was received

        async def counted() -> Message:
            nonlocal received, overflowed, ended
            message = await receive()
            if message["type"] == "http.request":
                ended = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > limit:
                    overflowed = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if overflowed:
                return  # the app's answer to a body it could not read; the 413 replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not overflowed:
                raise
        if overflowed:
            if started:
                self.abuse.refuse(scope, BODY_TOO_LARGE)
            else:
                if not ended:
                    await _drain(receive)
                await self._too_large(scope, send, limit)
            return
        if reason := scope.get("state", {}).get("refusal_reason"):
            self.abuse.refuse(scope, str(reason))

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        self.abuse.refuse(scope, BODY_TOO_LARGE)
        request = Request(scope)
        response = refusal_response(request, 413, f"the request body is larger than {limit} bytes",
                                    f"le corps de la demande dépasse {limit} octets", self.abuse.page)
        response.headers["Connection"] = "close"

        async def nothing() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)


async def _drain(receive: Receive) -> None:
    """Read and drop the rest of a streamed body refused with 413 (at most `DRAIN_MAX_BYTES`, within
    `DRAIN_MAX_S` seconds), so a client still sending when the 413 and the close come reads the answer
    instead of a connection reset; a client that sends more, or slower, gets the 413 anyway."""
    drained = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_MAX_S):
            while drained <= DRAIN_MAX_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    return
                drained += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return


def install(app: FastAPI, abuse: Abuse) -> None:
    """Put `abuse` on `app` (``app.state.abuse``, read by `guard`), answer `Throttled` with 429 and bodies
    over their limit with 413 (`BodyLimitMiddleware`). Call in ``create_app``, before the app starts."""
    app.state.abuse = abuse
    app.add_exception_handler(Throttled, throttled_handler)
    app.add_middleware(BodyLimitMiddleware, abuse=abuse)


__all__ = ["BODY_TOO_LARGE", "Abuse", "BodyLimitMiddleware", "BodyTooLarge", "Limit", "RateLimits", "Refusal",
           "RefusalCount", "RefusalRecorder", "RefusalStore", "Throttled", "abuse_of", "api_key_id", "client_of",
           "guard", "install", "limited", "refusal_response", "route_of"]
