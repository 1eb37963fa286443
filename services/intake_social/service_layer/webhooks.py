"""Handle one Meta webhook delivery: verify its signature, normalise it, publish the messages.

Produces `intake.message_received` and `intake.delivery_status_received` (WhatsApp statuses, for the
notifier) on `intake.messages` (published with acks=all before the webhook is answered, so a 200 means
Kafka has every message of the batch); receipts and rejected items are reported through `report` (logs
and metrics), never published.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from services.intake_social.domain import signature
from services.intake_social.domain.meta import MetaAccounts, parse_delivery
from services.intake_social.domain.outcomes import Inbound, Outcome, Rejected, StatusReported, Summary
from shared.events import Envelope

Publish = Callable[[Envelope], Awaitable[None]]
"""Publish one envelope on its registry topic, keyed by its subject; returns once the broker acknowledged it
(raises otherwise)."""


class SignatureRejected(Exception):
    """The body does not carry a valid `X-Hub-Signature-256` for the app secret (or no secret is set)."""


@dataclass(frozen=True)
class WebhookDeps:
    """What the webhook handler needs: the app secret (bytes; None refuses every delivery), which Meta
    accounts are the city's, the publisher, a reporter for every outcome, and the producer name."""

    app_secret: bytes | None
    accounts: MetaAccounts
    publish: Publish
    report: Callable[[Outcome], None]
    producer: str = "intake_social"


def verify_challenge(mode: str | None, token: str | None, challenge: str | None, expected: str | None) -> str | None:
    """Meta's subscription handshake (GET with `hub.mode=subscribe`, `hub.verify_token`, `hub.challenge`):
    the challenge to echo back when the token is ours, else None (answer 403)."""
    if mode != "subscribe" or not expected or token is None or challenge is None:
        return None
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return None
    return challenge


async def receive_delivery(body: bytes, signature_header: str | None, deps: WebhookDeps, now: datetime) -> Summary:
    """Verify and handle one POSTed delivery; returns the counts of its outcomes.

    `body` must be the raw request bytes: the signature is checked on them before any parsing.
    Raises `SignatureRejected` (nothing is parsed or published), or whatever `deps.publish` raises when
    the broker does not acknowledge (the caller answers 5xx so that Meta delivers the batch again; the
    event ids derive from the message ids, so messages already published are not duplicated).
    """
    if deps.app_secret is None or not signature.verify(deps.app_secret, body, signature_header):
        raise SignatureRejected
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):
        # Signed but not JSON: sending it again would not help, so it is reported and answered 200.
        outcomes: list[Outcome] = [Rejected(None, "not_json", "$")]
    else:
        outcomes = parse_delivery(payload, accounts=deps.accounts, now=now)
    for outcome in outcomes:
        if isinstance(outcome, Inbound):
            msg = outcome.message
            await deps.publish(Envelope.new_flow(msg, subject=msg.contact_key, producer=deps.producer, now=now,
                                                 event_id=outcome.event_id))
        elif isinstance(outcome, StatusReported):
            st = outcome.status
            await deps.publish(Envelope.new_flow(st, subject=st.contact_key, producer=deps.producer, now=now,
                                                 event_id=outcome.event_id))
        deps.report(outcome)
    return Summary.of(outcomes)
