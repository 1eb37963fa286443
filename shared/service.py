"""What every omni311 service process shares: one FastAPI app with health, readiness and metrics,
a Kafka broker whose lifetime is the app's, and, for services that own state, migrations, a pool and
the outbox relay. A service's `create_app(settings)` builds a `Runtime`, registers its subscribers on
`runtime.broker` and its routes on the app, and returns `runtime.app`.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, CONTENT_TYPE_LATEST
from pydantic import BaseModel

from shared.db.migrate import migrate
from shared.db.outbox import OutboxRelay, oldest_unpublished_age_s
from shared.db.pool import create_pool
from shared.db.unit_of_work import PgBatchUnitOfWork, PgUnitOfWork
from shared.events import Envelope
from shared.service_layer import BatchPrepare, Handlers, dispatch_batch
from shared.kafka import (BatchCallback, BatchResult, Consumed, Consumer, Rejected, create_broker, create_producer,
                          ensure_topics, outbox_publisher)
from shared.logs import configure_logging, get_logger
from shared.settings import Settings


class Health(BaseModel):
    """``GET /healthz``: the process answers."""

    service: str
    status: Literal["ok"]


class Readiness(BaseModel):
    """``GET /readyz``: whether the service started (200) or not yet / no longer (503)."""

    service: str
    ready: bool


ASYNCAPI_DOCUMENT_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["asyncapi", "info"],
    "description": "An AsyncAPI 3.0 document; its full schema is the AsyncAPI specification's.",
    "properties": {"asyncapi": {"type": "string", "const": "3.0.0"}, "info": {"type": "object"},
                   "servers": {"type": "object"}, "channels": {"type": "object"}, "operations": {"type": "object"},
                   "components": {"type": "object"}},
}
"""How ``GET /asyncapi.json`` is described in each service's OpenAPI document."""


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped, so a lone surrogate echoed from the input still encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


async def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a bad path, query or body, rendered with ASCII escapes: its default handler echoes
    the input, and a lone surrogate (`"\\ud800"` in a JSON body) made that echo a 500 (found by the fuzz
    test in the case service, then in the webhooks service). Installed on every service's app by `Runtime`."""
    assert isinstance(exc, RequestValidationError)
    return AsciiJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


def utc_now() -> datetime:
    """The clock; only runtimes read it (docs/architecture.md, house rule 5) and pass it to handlers."""
    return datetime.now(UTC)


class Runtime:
    """Resources of one service process. `pool` and `relay` exist only for state-owning services."""

    def __init__(self, settings: Settings, service: str, *, schema_package: str | None = None,
                 title: str | None = None) -> None:
        self.settings = settings
        self.service = service
        self.schema_package = schema_package
        self.broker = create_broker(settings, service)
        self.metrics = CollectorRegistry()
        self.consumer = Consumer(broker=self.broker, settings=settings, service=service, metrics=self.metrics)
        self.pool: asyncpg.Pool | None = None
        self.relay: OutboxRelay | None = None
        self.producer: AIOKafkaProducer | None = None
        self.clock: Callable[[], datetime] = utc_now
        self.started_at = time.monotonic()
        self.ready = False
        self.on_start: list[Callable[[], Awaitable[None]]] = []
        self.on_stop: list[Callable[[], Awaitable[None]]] = []
        self.handled = Counter("omni311_events_handled", "Events handled by type", ["event_type"],
                               registry=self.metrics)
        self.outbox_age = Gauge("omni311_outbox_oldest_unpublished_seconds",
                                "Age in seconds of the oldest outbox row not yet published (0: none waiting)",
                                registry=self.metrics)
        self.outbox_published = Gauge("omni311_outbox_published", "Outbox rows relayed since start",
                                      registry=self.metrics)
        self.dead_lettered = Gauge("omni311_dead_lettered", "Messages sent to a DLQ since start",
                                   registry=self.metrics)
        self.log = get_logger(service)
        self.app = FastAPI(title=title or f"omni311 {service}", lifespan=self._lifespan)
        self.app.state.runtime = self  # what shared.events.asyncapi reads: the broker's subscribers
        self._asyncapi: dict[str, Any] | None = None
        self.app.add_exception_handler(RequestValidationError, invalid_request)
        self._add_probes()
        self._add_documents()

    def event_handler(self, handlers: Callable[[], Handlers], repository: Callable[[asyncpg.Connection], Any], *,
                      prepare: BatchPrepare | None = None) -> BatchCallback:
        """The consume callback of a state-owning service, for `Consumer.handle_batch`: a batch runs in one
        `PgBatchUnitOfWork` on this service's pool (`dispatch_batch`: one inbox claim statement, each event's
        handler from `handlers()` (built once the service started) in a savepoint with `repository` on the
        transaction's connection, one commit). Event types missing from the table are other consumers' events
        on a shared topic: committed untouched. Events that can never succeed are returned as rejected.
        `prepare` runs once per batch transaction before its handlers (`shared.service_layer.BatchPrepare`).
        """

        async def call(consumed: Sequence[Consumed], last_attempt: bool) -> BatchResult:
            outcomes = await dispatch_batch(
                handlers(), [(c.envelope, c.delivery) for c in consumed],
                lambda: PgBatchUnitOfWork(self.db, service=self.service, repository=repository),
                clock=self.clock, last_attempt=last_attempt, prepare=prepare)
            result = BatchResult()
            for item, outcome in zip(consumed, outcomes, strict=True):
                if outcome.failure is not None:
                    result.rejected.append(Rejected(item, *outcome.failure))
                    continue
                if outcome.result is None:
                    continue
                if outcome.result != "duplicate":
                    result.handled += 1
                self._log_handled(item.envelope, outcome.result)
            return result

        return call

    def counted(self, consumed: Sequence[Consumed], words: Sequence[str | None]) -> BatchResult:
        """The result of a batch a service handled set-based (one word per event of `consumed`: what its handler
        would have returned, "duplicate" for an event the inbox held, None for an event of a type the service
        does not handle), each event logged and counted as `event_handler` does (an event not handled is
        neither)."""
        result = BatchResult(handled=sum(word not in (None, "duplicate") for word in words))
        for item, word in zip(consumed, words, strict=True):
            if word is not None:
                self._log_handled(item.envelope, word)
        return result

    def _log_handled(self, env: Envelope, result: str) -> None:
        self.handled.labels(env.event_type).inc()
        # The ids as fields of the line itself, not bound to the context and unbound again per event.
        self.log.info("handled", result=result, event_id=str(env.event_id), correlation_id=str(env.correlation_id),
                      event_type=env.event_type)

    def unit_of_work(self, repository: Callable[[asyncpg.Connection], Any], *, envelope: Envelope | None = None,
                     now: datetime | None = None) -> PgUnitOfWork[Any]:
        """A unit of work that claims nothing: for an action that consumes no event (a staff action, a
        mail read from the mailbox), what it emits starts a flow of its own; with `envelope` (a record
        made after a send), what it emits is caused by that event. `now` defaults to the clock."""
        return PgUnitOfWork(self.db, service=self.service, repository=repository,
                            now=now if now is not None else self.clock(), envelope=envelope)

    @property
    def db(self) -> asyncpg.Pool:
        """The service's pool (its schema's role). Raises `RuntimeError` before start or for a stateless
        service."""
        if self.pool is None:
            raise RuntimeError(f"{self.service} has no database pool (not started, or stateless)")
        return self.pool

    def _add_probes(self) -> None:
        @self.app.get("/healthz", tags=["probes"], response_model=Health,
                      summary="Liveness: the process answers")
        async def healthz() -> dict[str, Any]:
            return {"service": self.service, "status": "ok"}

        @self.app.get("/readyz", tags=["probes"], response_model=Readiness,
                      summary="Readiness: started (broker, pool, relay); 503 until then and while stopping",
                      responses={503: {"model": Readiness, "description": "Not started yet, or stopping"}})
        async def readyz(response: Response) -> dict[str, Any]:
            if not self.ready:
                response.status_code = 503
            return {"service": self.service, "ready": self.ready}

        @self.app.get("/metrics", tags=["probes"], response_class=Response,
                      summary="Prometheus metrics (text exposition format)",
                      responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
                                       "description": "The service's Prometheus series"}})
        async def metrics() -> Response:
            if self.relay is not None:
                self.outbox_published.set(self.relay.published)
                try:
                    self.outbox_age.set(await oldest_unpublished_age_s(self.db))
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    # The scrape still answers (lag and the other series matter most in an outage); the
                    # gauge keeps its last value and the log says why.
                    self.log.warning("outbox_age_unavailable", error=repr(exc)[:300])
            self.dead_lettered.set(self.consumer.dead_lettered)
            return Response(generate_latest(self.metrics), media_type=CONTENT_TYPE_LATEST)

    def _add_documents(self) -> None:
        @self.app.get("/asyncapi.json", tags=["documents"], response_class=JSONResponse,
                      summary="This service's AsyncAPI 3.0 document (the topics and events it sends and receives)",
                      responses={200: {"content": {"application/json": {"schema": ASYNCAPI_DOCUMENT_SCHEMA}},
                                       "description": "An AsyncAPI 3.0 document (docs/integrations.md, section 4)"}})
        async def asyncapi() -> JSONResponse:
            if self._asyncapi is None:  # built on first use: subscribers are registered after the runtime
                # Imported here: FastStream's specification modules cost every service's start-up otherwise.
                from shared.events.asyncapi import service_document

                self._asyncapi = service_document(self.service, self.broker, self.settings)
            return JSONResponse(self._asyncapi)

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        s = self.settings
        configure_logging(self.service, s.log_level, s.log_json)
        await ensure_topics(s)
        if self.schema_package is not None:
            applied = await migrate(s.pg_dsn, self.service, self.schema_package)
            if applied:
                self.log.info("migrated", versions=applied)
            self.pool = await create_pool(s.pg_dsn, self.service, application_name=self.service,
                                          max_size=s.pg_pool_max)
            self.producer = create_producer(s, self.service)
            await self.producer.start()
            self.relay = OutboxRelay(dsn=s.pg_dsn, schema=self.service, publish=outbox_publisher(self.producer),
                                     topic_name=s.topic, poll_interval_s=s.outbox_poll_interval_s)
        for hook in self.on_start:
            await hook()
        await self.broker.start()
        if self.relay is not None:
            self.relay.start()
        self.ready = True
        self.log.info("started")
        try:
            yield
        finally:
            self.ready = False
            if self.relay is not None:
                await self.relay.stop()
            if self.producer is not None:
                await self.producer.stop()
            await self.broker.stop()
            for hook in self.on_stop:
                await hook()
            if self.pool is not None:
                await self.pool.close()
            self.log.info("stopped")


SOCKET_KEY = "omni311.socket"
"""ASGI scope key under which `ServerStack` keeps what the connection itself said: (peer address or
None, scheme), before any proxy header is applied."""


def forwarded_allow_ips() -> str:
    """The addresses whose ``X-Forwarded-For``/``-Proto`` the server applies to every request: uvicorn's own
    ``FORWARDED_ALLOW_IPS`` environment variable (comma-separated IPs/CIDRs, ``*`` for all), by default
    the loopback addresses, as uvicorn itself defaults. Read when a service starts, never at import."""
    return os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")


class ServerStack:
    """The ASGI app `serve` hands uvicorn: `app` behind uvicorn's `ProxyHeadersMiddleware` (client address
    and scheme from a trusted proxy's ``X-Forwarded-For``/``-Proto``, for rate limits and logs), with the
    socket's own peer and scheme kept first in ``scope[SOCKET_KEY]``. A check that needs the connection
    itself (is the caller a trusted proxy?) reads `socket_origin`, so the rewrite cannot change its
    answer. uvicorn runs with ``proxy_headers=False``: this stack is the only place headers are applied."""

    def __init__(self, app: Any, trusted_hosts: str | list[str]) -> None:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        self.app = app
        self._proxied = ProxyHeadersMiddleware(app, trusted_hosts=trusted_hosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            scope[SOCKET_KEY] = (client[0] if client else None, scope.get("scheme", "http"))
        await self._proxied(scope, receive, send)


def socket_origin(scope: Any) -> tuple[str | None, str]:
    """(peer address or None, scheme) of the connection as the socket saw them: what `ServerStack` kept,
    else (an app run without it, as in tests) the scope's own client and scheme."""
    kept = scope.get(SOCKET_KEY)
    if kept is not None:
        return kept
    client = scope.get("client")
    return (client[0] if client else None), scope.get("scheme", "http")


def serve(app: FastAPI, settings: Settings, service: str) -> None:
    """Run a service's app with uvicorn on its port (blocking), as `ServerStack` with the proxies of
    `forwarded_allow_ips`; SIGTERM/SIGINT stop it gracefully."""
    import uvicorn

    uvicorn.run(ServerStack(app, forwarded_allow_ips()), host=settings.http_host, port=settings.port_for(service),
                log_level="warning", lifespan="on", timeout_graceful_shutdown=20, proxy_headers=False)
