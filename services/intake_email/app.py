"""intake_email bootstrap: the city's 311 mailbox (IMAP, IDLE with a polling fallback) as events.

Consumes the IMAP mailbox (`imap_*` settings); produces `intake.message_received` and
`intake.bounce_received` on `intake.messages` through the outbox. Owns the mailbox cursor, every raw
message and the media cut from them (schema `intake_email`). No Kafka subscriptions.
The watcher: `entrypoints/mailbox.py`; the HTTP routes (media, problems, messages, mailbox):
`entrypoints/http.py`.
"""

from __future__ import annotations

from typing import Any

from services.intake_email.config import SERVICE
from services.intake_email.entrypoints import http, mailbox
from shared.service import Runtime
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> Any:
    """Build the email intake service (FastAPI app; the mailbox watcher runs in its lifespan)."""
    s = settings or Settings()
    rt = Runtime(s, SERVICE, schema_package="services.intake_email")
    http.mount(rt, mailbox.watch(rt, s))
    return rt.app
