"""intake_email bootstrap: the city's 311 mailbox (IMAP, IDLE with a polling fallback) as events.

Consumes the IMAP mailbox (`imap_*` settings) and `case.personal_data_erased` on `cases.lifecycle`
(erases its copy of a case's messages and media); produces `intake.message_received` and
`intake.bounce_received` on `intake.messages` through the outbox. Owns the mailbox cursor, every raw
message, the media cut from them and the erasure log (schema `intake_email`).
The watcher: `entrypoints/mailbox.py`; the subscription: `entrypoints/kafka.py`; the HTTP routes (media,
and for supervisors and administrators with a staff bearer token: problems, messages, mailbox):
`entrypoints/http.py`.
"""

from __future__ import annotations

from typing import Any

from services.intake_email.adapters.repository import MailRepository
from services.intake_email.config import SERVICE
from services.intake_email.entrypoints import http, kafka, mailbox
from services.intake_email.service_layer import erasure
from shared.auth import TokenVerifier, install_auth
from shared.service import Runtime
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Any:
    """Build the email intake service (FastAPI app; the mailbox watcher and the `cases.lifecycle` consumer
    run in its lifespan; staff routes verify bearer tokens with `settings`' `auth_*`)."""
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.intake_email")
    install_auth(rt.app, TokenVerifier(s))
    http.mount(rt, mailbox.watch(rt, s))
    table = erasure.handlers()
    kafka.subscribe(rt, rt.event_handler(lambda: table, MailRepository))
    return rt.app
