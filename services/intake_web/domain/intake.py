"""Turn a validated Open311 POST into an `intake.message_received` payload, and related pure rules."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from shared.contacts import anonymous_contact_key
from shared.contacts import contact_key as shared_contact_key
from shared.events import MessageReceived, Pii
from shared.open311 import PostServiceRequest


def contact_key(channel: str, *, email: str | None, phone: str | None, account_id: str | None,
                device_id: str | None, fallback: str) -> str:
    """A stable, non-reversible key of the reporter (the `intake.messages` partition key).

    Uses the strongest identifier given (email, then phone, account, device), case-folded; an anonymous
    report gets a key of its own (`fallback`, e.g. the token), so it orders with nothing else.
    """
    for kind, value in (("email", email), ("phone", phone), ("account", account_id), ("device", device_id)):
        if value and value.strip():
            return shared_contact_key(kind, value)
    return anonymous_contact_key(channel, fallback)


def token_for(api_key: str, idempotency_key: str | None, body_digest: str = "", *, fresh: UUID) -> str:
    """The Open311 token of a POST: derived from the client's `Idempotency-Key` header and the request
    body, so that a retried POST gets the same token (and therefore the same case) while a different
    report sent with a reused key is not mistaken for a retry; without a key, `fresh` (a new random id the
    caller made) as text."""
    if idempotency_key:
        return str(uuid5(NAMESPACE_URL, f"omni311:open311:{api_key}:{idempotency_key}:{body_digest}"))
    return str(fresh)


def form_digest(form: Any) -> str:
    """A stable digest of a POST form's fields (order-independent; the api_key left out)."""
    items = sorted((str(k), str(v)) for k, v in (form.multi_items() if hasattr(form, "multi_items") else form.items())
                   if k != "api_key")
    return hashlib.sha256(repr(items).encode()).hexdigest()[:32]


def client_id_for(api_key: str) -> str:
    """A non-secret id of the Open311 client: a short hash of its api_key (the key itself is a secret)."""
    return "client_" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


def message_from_post(req: PostServiceRequest, *, token: str, client_id: str, now: datetime,
                      language: str | None = None) -> MessageReceived:
    """The intake payload of one Open311 POST Service Request (channel ``open311``)."""
    return MessageReceived(
        channel="open311",
        channel_message_id=token,
        contact_key=contact_key("open311", email=req.email, phone=req.phone, account_id=req.account_id,
                                device_id=req.device_id, fallback=token),
        received_at=now,
        service_code=req.service_code,
        description=req.description or "",
        address=req.address_string,
        address_id=req.address_id,
        lat=req.lat,
        long=req.long,
        media_url=[req.media_url] if req.media_url else [],
        requested_datetime=now,
        language=language,
        attributes=dict(req.attributes),
        client_id=client_id,
        pii=Pii(email=req.email, phone=req.phone, first_name=req.first_name, last_name=req.last_name),
    )


def event_id_for(token: str) -> UUID:
    """The intake event id of a token: a retried POST republishes the very same event."""
    return uuid5(NAMESPACE_URL, f"omni311:open311-event:{token}")


def media_photo_id(token: str) -> UUID:
    """The id of the photo an Open311 POST's multipart `media` file is kept as: derived from the request's
    token, so a POST retried with the same `Idempotency-Key` (the same token) keeps the same photo and
    publishes the same `media_url` instead of storing a second copy."""
    return uuid5(NAMESPACE_URL, f"omni311:open311-media:{token}")
