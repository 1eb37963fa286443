"""Open311 forwarding events (topic `forwarding.outcomes`, keyed by `case_id`), produced by the forwarder,
v1: a case was sent to another system's Open311 GeoReport v2 endpoint, a send or a poll failed, and the
endpoint reported a status. The case service records each on the case. Contract: docs/integrations.md,
"Open311 forwarding".
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from shared.events.case import CaseFields
from shared.events.common import Status
from shared.events.declaration import event
from shared.events.topics import FORWARDING_OUTCOMES

_CASE = {"case_id": "6f1c8f5e-2f7a-4c55-9b1e-0d1f2a3b4c5d", "service_request_id": "311-000123",
         "jurisdiction_id": "demo"}


class ForwardingFields(CaseFields):
    """The case and the endpoint: `endpoint` is the name of an endpoint of the jurisdiction's
    `forwarding.endpoints` (jurisdiction.yaml), never its URL or key."""

    endpoint: str = Field(min_length=1, max_length=100)


@event(
    topic=FORWARDING_OUTCOMES,
    producers=("forwarder",),
    consumers=("case",),
    example={**_CASE, "endpoint": "county-public-works", "external_service_request_id": "638344",
             "token": None, "external_service_code": "4fd3b167e750846744000005",
             "service_notice": "Requests are answered within 5 business days.",
             "forwarded_at": "2025-03-14T15:10:02Z"},
)
class CaseForwarded(ForwardingFields):
    """`forwarding.case_forwarded` v1: the endpoint accepted the case (`POST /requests`).

    `external_service_request_id` is the endpoint's id for it; None while the endpoint has answered only a
    `token` (GeoReport v2 `GET /tokens/{token}`); a second `forwarding.case_forwarded` with the id follows
    when the token resolves. `external_service_code` is the code the case was sent under;
    `service_notice` the endpoint's notice, if any. `forwarded_at` is UTC."""

    event_type = "forwarding.case_forwarded"
    schema_version = 1

    external_service_request_id: str | None = Field(default=None, max_length=200)
    token: str | None = Field(default=None, max_length=200)
    external_service_code: str = Field(min_length=1, max_length=200)
    service_notice: str | None = Field(default=None, max_length=2000)
    forwarded_at: AwareDatetime


@event(
    topic=FORWARDING_OUTCOMES,
    producers=("forwarder",),
    consumers=("case",),
    example={**_CASE, "endpoint": "county-public-works", "stage": "send", "attempt": 3,
             "error": "HTTP 503 from the endpoint", "retry_at": "2025-03-14T15:18:00Z"},
)
class ForwardFailed(ForwardingFields):
    """`forwarding.forward_failed` v1: one attempt to send the case (`stage` ``send``) or to read its status
    (``poll``, only after `forwarding.poll_failures_reported` failures in a row) failed.

    `attempt` counts from 1; `error` says what failed, without the endpoint's key or URL query; `retry_at`
    (UTC) is when the next attempt is due, None when the forwarder gave up (``send`` after the endpoint's
    `max_attempts`; staff can send again)."""

    event_type = "forwarding.forward_failed"
    schema_version = 1

    stage: Literal["send", "poll"]
    attempt: int = Field(ge=1)
    error: str = Field(min_length=1, max_length=500)
    retry_at: AwareDatetime | None = None


@event(
    topic=FORWARDING_OUTCOMES,
    producers=("forwarder",),
    consumers=("case",),
    example={**_CASE, "endpoint": "county-public-works", "external_service_request_id": "638344",
             "status": "closed", "status_notes": "Pothole filled.", "agency_responsible": "County Roads",
             "updated_datetime": "2025-03-16T10:02:00Z", "reported_at": "2025-03-16T10:03:11Z"},
)
class StatusReported(ForwardingFields):
    """`forwarding.status_reported` v1: the endpoint's `GET /requests` shows a change of the forwarded
    request's `status`, `status_notes` or `agency_responsible` since the last one reported.

    The case service applies it as a status change by the external system (actor ``open311:<endpoint>``,
    role ``external_system``): `closed` moves the case to the jurisdiction's `forwarding.closed_status`,
    `open` on a case closed here to `forwarding.reopened_status`; only new notes become a timeline entry.
    `updated_datetime` is the endpoint's (UTC, None when it gives none); `reported_at` when we read it."""

    event_type = "forwarding.status_reported"
    schema_version = 1

    external_service_request_id: str = Field(min_length=1, max_length=200)
    status: Status
    status_notes: str | None = Field(default=None, max_length=2000)
    agency_responsible: str | None = Field(default=None, max_length=200)
    updated_datetime: AwareDatetime | None = None
    reported_at: AwareDatetime
