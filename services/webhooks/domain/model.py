"""What the webhooks service decides, as pure functions of their inputs (no database, network or clock):
the case facts it projects from case events, which subscriptions an event matches, what a payload keeps
without personal data, the Standard Webhooks id and headers, the backoff and the pause after failures.

Source: docs/integrations.md, section 1 (the contract); the Standard Webhooks specification
(https://www.standardwebhooks.com/: `webhook-id`, `webhook-timestamp`, `webhook-signature` `v1,<base64
HMAC-SHA256 of "<id>.<timestamp>.<body>">`, space-separated signatures during a key rotation).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from standardwebhooks.webhooks import Webhook

from shared.retry import exponential_delay_s

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
"""A secret is `whsec_` + base64 of 24 random bytes (the contract; Standard Webhooks allows 24 to 64)."""

FREE_TEXT = ("description", "status_notes", "text", "comment", "reason", "address")
"""Top-level fields of case events that hold words people wrote: scrubbed of emails and phone numbers
without personal data (as the public open data is)."""

PSEUDONYMS = ("contact_key", "follower_contact_key", "contact_keys", "channel_message_id", "channel_message_ids",
              "reply_to_message_id", "email_to")
"""Top-level fields that name a person without personal data being granted: contact keys (a known address or
number can be hashed and compared with them), a channel's message ids (an email Message-ID names the sender's
domain) and the escalation e-mail recipients. Removed with the registry's personal-data paths."""

Status = Literal["active", "paused", "disabled"]
DepartmentOf = Callable[[str | None, str | None, str | None], str | None]
"""`department_of(queue, agency_responsible, service_code)` → the jurisdiction's department id, or None."""
Scrub = Callable[[str], str]
"""`scrub(text)` → the text with every email address and phone number replaced (`shared.contacts.scrub_contacts`)."""


@dataclass(frozen=True)
class CaseFacts:
    """What a case's events told the service so far: its current service code and department id (None:
    not known yet, e.g. before it was routed)."""

    service_code: str | None = None
    department: str | None = None


@dataclass(frozen=True)
class Filters:
    """What a subscription asks for: `event_types` (of `cases.lifecycle`), and `service_codes` and
    `departments` (empty: all)."""

    event_types: frozenset[str]
    service_codes: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SubscriptionView:
    """A subscription as the matching needs it: its id, status, filters and whether it is granted personal data."""

    id: UUID
    status: Status
    filters: Filters
    personal_data: bool = False


def case_facts_after(event_type: str, data: Mapping[str, Any], before: CaseFacts,
                     department_of: DepartmentOf) -> CaseFacts:
    """The case's facts once the event `event_type` (its payload as JSON, `data`) is applied to `before`.

    `case.opened` gives the reported service code (when the report named one); `case.routed` the routed
    service code and the department of its `queue` (else of its `agency_responsible`, else of its service,
    by `department_of`); `case.recategorised` the new service code (its department follows on the
    `case.routed` the router's new decision makes); `case.assigned` and `case.escalated` the department of a
    queue they move the case to; the SLA events the department they name. Other events change nothing.
    """
    facts = before
    if event_type == "case.opened" and data.get("service_code"):
        facts = replace(facts, service_code=data["service_code"])
    elif event_type == "case.routed":
        routing = data.get("routing") or {}
        code = routing.get("service_code") or facts.service_code
        department = department_of(routing.get("queue"), routing.get("agency_responsible"), code)
        facts = CaseFacts(service_code=code, department=department or facts.department)
    elif event_type == "case.recategorised" and data.get("service_code"):
        facts = replace(facts, service_code=data["service_code"])
    elif event_type in ("case.assigned", "case.escalated") and data.get("queue"):
        department = department_of(data["queue"], None, None)
        if department is not None:
            facts = replace(facts, department=department)
    elif event_type in ("case.sla_warning", "case.sla_breached") and data.get("department_id"):
        facts = replace(facts, department=data["department_id"])
    return facts


def matches(sub: SubscriptionView, event_type: str, facts: CaseFacts) -> bool:
    """Whether `sub` gets the event: it is not disabled (a paused one keeps queueing), it asks for
    `event_type`, and the case's current service code and department are in its filters (an empty filter
    takes all; a case whose code or department is not known yet matches only a subscription without that
    filter)."""
    f = sub.filters
    if sub.status == "disabled" or event_type not in f.event_types:
        return False
    if f.service_codes and facts.service_code not in f.service_codes:
        return False
    return not (f.departments and facts.department not in f.departments)


def scrub_data(data: Mapping[str, Any], pii_paths: Iterable[str], scrub: Scrub) -> dict[str, Any]:
    """A copy of an event's payload `data` without personal data: every registry personal-data path
    (dotted, e.g. ``pii.email``) and every `PSEUDONYMS` field removed (an object left empty, such as
    ``pii``, is removed too), and every `FREE_TEXT` string passed through `scrub`, as are the resident's
    nested words: the answers of `attributes` (``case.opened``: an Open311 string or text attribute is typed
    by the resident) and the ``routing.location.query`` the router read from the report. `data` is not
    changed."""
    out: dict[str, Any] = json.loads(json.dumps(data))
    for path in pii_paths:
        _remove(out, path.split("."))
    for name in PSEUDONYMS:
        out.pop(name, None)
    for name in FREE_TEXT:
        if isinstance(out.get(name), str):
            out[name] = scrub(out[name])
    if isinstance(out.get("attributes"), dict):
        out["attributes"] = {k: _scrub_strings(v, scrub) for k, v in out["attributes"].items()}
    location = (out.get("routing") or {}).get("location") if isinstance(out.get("routing"), dict) else None
    if isinstance(location, dict) and isinstance(location.get("query"), str):
        location["query"] = scrub(location["query"])
    return out


def _scrub_strings(value: Any, scrub: Scrub) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrub_strings(v, scrub) for v in value]
    return value


def _remove(obj: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head not in obj:
        return
    if not rest:
        del obj[head]
        return
    inner = obj[head]
    if isinstance(inner, dict):
        _remove(inner, rest)
        if not inner:
            del obj[head]


def webhook_id(event_id: UUID, subscription_id: UUID) -> str:
    """The `webhook-id` of an event's message to one subscription: ``msg_`` + the event id without dashes,
    ``_`` + the subscription id; the same on every retry and redelivery, so a receiver is idempotent by it."""
    return f"msg_{event_id.hex}_{subscription_id}"


def message_body(*, event_type: str, occurred_at: datetime, data: Mapping[str, Any], event_id: UUID,
                 schema_version: int, subject: str) -> dict[str, Any]:
    """The JSON body of a message: ``{"type", "timestamp" (RFC 3339 UTC, ``Z``), "data", "event_id",
    "schema_version", "subject"}`` (docs/integrations.md, "What is sent")."""
    return {"type": event_type, "timestamp": _rfc3339(occurred_at), "data": dict(data), "event_id": str(event_id),
            "schema_version": schema_version, "subject": subject}


def _rfc3339(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("occurred_at must be aware (UTC)")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def body_text(body: Mapping[str, Any]) -> str:
    """The exact text sent and signed: compact JSON, UTF-8 characters kept."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def new_secret(random_bytes: bytes) -> str:
    """A subscription secret from `SECRET_BYTES` random bytes: ``whsec_`` + base64. Raises `ValueError` for
    another length."""
    if len(random_bytes) != SECRET_BYTES:
        raise ValueError(f"a secret is made of {SECRET_BYTES} random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode("ascii")


def signing_secrets(secret: str, previous: str | None, previous_until: datetime | None, now: datetime) -> list[str]:
    """The secrets that sign at `now`: the current one, and the previous one while its overlap lasts
    (`previous_until` later than `now`)."""
    keep = previous is not None and previous_until is not None and now < previous_until
    return [secret, previous] if keep else [secret]  # type: ignore[list-item]


def signature_headers(msg_id: str, timestamp: datetime, body: str, secrets: Iterable[str]) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: `webhook-id`, `webhook-timestamp` (Unix seconds of
    `timestamp`, aware), `webhook-signature` (one ``v1,<base64>`` per secret, space-separated, signed with
    the reference library) and `content-type`. Raises `ValueError` without a secret."""
    signatures = [Webhook(s).sign(msg_id, timestamp, body) for s in secrets]
    if not signatures:
        raise ValueError("a message is signed with at least one secret")
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": " ".join(signatures), "content-type": "application/json"}


@dataclass(frozen=True)
class RetryPolicy:
    """`base_s` × 2^(failures−1) seconds after a failure, capped at `max_s`, ±`jitter_share` (10 %); the
    subscription pauses after `pause_after` failed attempts in a row."""

    base_s: float = 5.0
    max_s: float = 3600.0
    pause_after: int = 10
    jitter_share: float = 0.1


def backoff_s(failures: int, policy: RetryPolicy, jitter: float) -> float:
    """Seconds before the next attempt after the `failures`-th failure in a row (≥ 1) of a message;
    `jitter` in [−1, 1] (a random draw, passed in) moves it by up to `policy.jitter_share`."""
    delay = exponential_delay_s(failures, policy.base_s, policy.max_s)
    jitter = max(-1.0, min(1.0, jitter))
    return delay * (1 + policy.jitter_share * jitter)


@dataclass(frozen=True)
class Outcome:
    """One attempt as the sender saw it: `http_status` (None when no answer came), `error` (short, no
    secret), `duration_ms`. Delivered only on a 2xx answer (a redirect is a failure)."""

    http_status: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


@dataclass(frozen=True)
class AfterAttempt:
    """What an attempt changes: the message `delivered` or due again at `next_attempt_at` with
    `message_failures`; the subscription's `consecutive_failures`, and `pause` when it must pause now."""

    delivered: bool
    message_failures: int
    consecutive_failures: int
    next_attempt_at: datetime | None
    pause: bool = False
    reason: str | None = field(default=None)


def after_attempt(outcome: Outcome, *, message_failures: int, consecutive_failures: int, now: datetime,
                  policy: RetryPolicy, jitter: float) -> AfterAttempt:
    """The state after one attempt at `now`: a delivery resets the subscription's failures; a failure is
    tried again after `backoff_s` and pauses the subscription at its `policy.pause_after`-th failure in a
    row (the message then waits for the resume)."""
    if outcome.delivered:
        return AfterAttempt(delivered=True, message_failures=0, consecutive_failures=0, next_attempt_at=None)
    failures, in_a_row = message_failures + 1, consecutive_failures + 1
    reason = outcome.error or f"HTTP {outcome.http_status}"
    return AfterAttempt(delivered=False, message_failures=failures, consecutive_failures=in_a_row,
                        next_attempt_at=now + timedelta(seconds=backoff_s(failures, policy, jitter)),
                        pause=in_a_row >= policy.pause_after, reason=reason)
