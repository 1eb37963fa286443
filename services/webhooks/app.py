"""Webhooks bootstrap: wires the repository, the handlers, the subscription, the delivery loop and the admin API.

Consumes every `cases.lifecycle` event; produces nothing on Kafka: it POSTs signed messages (Standard
Webhooks) to the subscribed systems. Owns the `webhooks` schema (subscriptions, case facts, messages, the
delivery log) and serves `/admin/subscriptions` (administrators) and `/metrics` (docs/integrations.md §1).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from services.webhooks.adapters.repository import WebhooksRepository
from services.webhooks.adapters.sender import WebhookSender
from services.webhooks.config import SERVICE, WebhooksSettings, department_of, phone_region
from services.webhooks.domain.model import SECRET_BYTES, new_secret
from services.webhooks.entrypoints import http, kafka
from services.webhooks.entrypoints.delivery import DeliveryLoop, WebhookMetrics
from services.webhooks.service_layer import admin, handlers
from shared.auth import TokenVerifier, install_auth
from shared.contacts import scrub_contacts
from shared.events import ALL_EVENTS, registry
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.service import Runtime
from shared.service_layer import Handlers
from shared.settings import Settings


def create_app(settings: Settings | None = None, *, webhooks: WebhooksSettings | None = None) -> Any:
    """The webhooks FastAPI app (probes, `/metrics`, the admin API), whose lifespan runs the service:
    `settings` and `webhooks` default to the `OMNI311_` / `OMNI311_WEBHOOKS_` environment (`WebhooksSettings`
    raises `ValueError` for `ALLOW_PRIVATE` in production). Nothing is opened here but the token verifier; on
    start the `webhooks` schema is migrated, the pool, consumer and delivery loop are started and the
    jurisdiction (departments, phone region) is loaded. Starting raises `JurisdictionConfigError`,
    `OSError`/`asyncpg.PostgresError`/Kafka errors when the infrastructure cannot be reached."""
    s, cfg = settings or Settings(), webhooks or WebhooksSettings()
    rt = Runtime(s, SERVICE, schema_package="services.webhooks")
    sender = WebhookSender(timeout_s=cfg.timeout_s, allow_private=cfg.allow_private)
    loop = DeliveryLoop(lambda: rt.unit_of_work(WebhooksRepository), sender.post, clock=rt.clock,
                        policy=cfg.retry_policy(), metrics=WebhookMetrics(rt.metrics), poll_interval_s=cfg.poll_interval_s,
                        batch=cfg.batch, lease_s=cfg.lease_s, retention_days=cfg.log_retention_days)
    table: dict[str, Handlers] = {}
    loaded: dict[str, Jurisdiction] = {}
    making: dict[str, handlers.Making] = {}

    async def start() -> None:
        jur = loaded["j"] = load_jurisdiction(s.jurisdiction)
        region = phone_region(jur, cfg.phone_region)
        making["m"] = handlers.Making(
            department_of=department_of(jur), scrub=lambda text: scrub_contacts(text, region),
            pii_paths=handlers.registry_pii_paths, wake=loop.wake)
        table["h"] = handlers.handlers(making["m"])
        loop.start()

    rt.on_start.append(start)
    rt.on_stop.extend([loop.stop, sender.aclose])
    kafka.subscribe(rt, rt.event_handler(lambda: table["h"], WebhooksRepository))
    install_auth(rt.app, TokenVerifier(s))
    http.mount(rt.app, http.WebhooksApi(
        unit_of_work=lambda: rt.unit_of_work(WebhooksRepository), known=lambda: _known(loaded["j"]),
        check_url=sender.check_url, new_secret=lambda: new_secret(secrets.token_bytes(SECRET_BYTES)),
        new_id=uuid.uuid4, secret_overlap_s=cfg.secret_overlap_s, wake=loop.wake,
        public_body=lambda body: handlers.public_body(body, making["m"])))
    return rt.app


def _known(jur: Jurisdiction) -> admin.Known:
    """What subscription filters may name: the events of `cases.lifecycle`, the jurisdiction's departments
    and services (its unclassified one included)."""
    lifecycle = frozenset(m.event_type for m in ALL_EVENTS if registry().topic_of(m) == "cases.lifecycle")
    codes = frozenset(svc.service_code for svc in jur.services) | {jur.unclassified.service_code}
    return admin.Known(event_types=lifecycle, departments=frozenset(d.id for d in jur.departments),
                       service_codes=codes)
