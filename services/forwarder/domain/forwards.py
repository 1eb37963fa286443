"""What is sent where and when (docs/integrations.md, "Open311 forwarding"), as pure functions: which
endpoints take a routed case, the POST form built from the case's public Open311 read, the backoff between
sends, and whether a status read from an endpoint is a change to report. No I/O; time is passed in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.contacts import scrub_contacts
from shared.jurisdiction.forwarding import ForwardingEndpoint, ForwardingSpec
from shared.open311 import ServiceRequest
from shared.retry import exponential_delay_s

State = Literal["pending", "awaiting_token", "forwarded", "failed", "refused", "closed"]
"""A forward's state (migrations/001_forwards.sql): to send; sent with a token; sent with the endpoint's id
(polled); gave up after `max_attempts`; refused by the endpoint (a 4xx); reported closed (polling stops)."""

POLLED: tuple[State, ...] = ("awaiting_token", "forwarded")
RETRYABLE_BY_STAFF: tuple[State, ...] = ("failed", "refused")
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Planned:
    """A send to plan: the endpoint's name and the service code the case goes under there."""

    endpoint: str
    external_service_code: str


def plan(forwarding: ForwardingSpec, service_code: str | None) -> list[Planned]:
    """The endpoints a case routed to `service_code` is sent to (those whose `services` map it), in the
    order of the jurisdiction file; empty when none does."""
    return [Planned(e.name, e.services[service_code]) for e in forwarding.endpoints_for(service_code)
            if service_code is not None]


def idempotency_key(case_id: object, endpoint: str) -> str:
    """The ``Idempotency-Key`` header of every send of a case to an endpoint: the same on each retry, so an
    endpoint that honours it (omni311's own Open311 POST does) makes one request of several sends."""
    return f"omni311-forward-{case_id}-{endpoint}"


def next_attempt(now: datetime, attempt: int, max_attempts: int, *, base_s: float, max_s: float) -> datetime | None:
    """When send `attempt + 1` is due after send `attempt` (from 1) failed, ``base_s × 2^(attempt−1)`` seconds
    later and at most `max_s` (`shared.retry.exponential_delay_s`; docs/integrations.md: base 30 s, at most
    1 h), or None when `attempt` was the last. Raises `ValueError` for `attempt` < 1."""
    delay = exponential_delay_s(attempt, base_s, max_s)
    if attempt >= max_attempts:
        return None
    return now + timedelta(seconds=delay)


def post_form(case: ServiceRequest, endpoint: ForwardingEndpoint, external_service_code: str, api_key: str | None,
              *, attributes: dict[str, str | list[str]] | None = None, region: str = "US") -> list[tuple[str, str]]:
    """The form fields of Open311 GeoReport v2 ``POST requests`` for `case` (the case service's public
    read): ``api_key`` (when the endpoint has one), ``jurisdiction_id`` (when set), the mapped
    ``service_code``, ``lat``/``long`` (else ``address_string`` with the address), ``description``
    scrubbed of emails and phone numbers (`scrub_contacts`, numbers without ``+`` read in `region`),
    ``media_url`` and ``attribute[code]`` (``attribute[code][]`` per value of a list). Never a name, email
    or phone. A case with neither a point nor an address is sent without a place: an endpoint that needs
    one refuses it (a 4xx, shown on the case)."""
    form: list[tuple[str, str]] = []
    if api_key:
        form.append(("api_key", api_key))
    if endpoint.jurisdiction_id:
        form.append(("jurisdiction_id", endpoint.jurisdiction_id))
    form.append(("service_code", external_service_code))
    if case.lat is not None and case.long is not None:
        form += [("lat", repr(case.lat)), ("long", repr(case.long))]
        if case.address:
            form.append(("address_string", case.address))
    elif case.address:
        form.append(("address_string", case.address))
    if case.description:
        form.append(("description", scrub_contacts(case.description, region)[:4000]))
    if case.media_url:
        form.append(("media_url", case.media_url))
    for code, value in (attributes or {}).items():
        if isinstance(value, list):
            form += [(f"attribute[{code}][]", str(v)) for v in value]
        else:
            form.append((f"attribute[{code}]", str(value)))
    return form


@dataclass(frozen=True)
class Reading:
    """What we last knew of a forwarded request's status: Open311 `status`, `status_notes`,
    `agency_responsible`. A fresh forward starts from ``open`` with neither (what a new request is)."""

    status: str = "open"
    status_notes: str | None = None
    agency_responsible: str | None = None


def reading_of(request: ServiceRequest) -> Reading:
    """The status part of an endpoint's request, its words without control characters
    (`clean_text`)."""
    return Reading(request.status, clean_text(request.status_notes), clean_text(request.agency_responsible))


def changed(before: Reading, now: Reading) -> bool:
    """Whether `now` differs from `before` in status, notes or agency: a `forwarding.status_reported`."""
    return before != now


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
"""C0 controls but tab, newline and carriage return, and DEL: never kept from an endpoint's words (a NUL is
refused by PostgreSQL text and JSONB, an escape sequence rewrites a terminal reading a log)."""


def clean_text(text: str | None) -> str | None:
    """An endpoint's free text (`status_notes`, `agency_responsible`, `service_notice`) without `_CONTROL`
    characters; None stays None."""
    return None if text is None else _CONTROL.sub("", text)


def has_control(text: str | None) -> bool:
    """Whether `text` holds a control character (tab, newline and carriage return included): an id or token
    with one is refused."""
    return text is not None and any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


def short_error(text: str) -> str:
    """An error as events and rows keep it: one line without control characters (an endpoint's error list is
    quoted in it), at most `MAX_ERROR_CHARS` characters, never empty."""
    flat = " ".join((clean_text(str(text)) or "").split()) or "unknown error"
    return flat[:MAX_ERROR_CHARS]
