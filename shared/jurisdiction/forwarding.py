"""Open311 forwarding of a jurisdiction (``forwarding:`` in jurisdiction.yaml): the outside Open311
GeoReport v2 endpoints some services' cases are sent to, and the statuses their answers become here.
Contract: docs/integrations.md, "Open311 forwarding". The URLs may be overridden and the API keys are
given by the forwarder's settings (`OMNI311_FORWARDING_URLS`, `OMNI311_FORWARDING_API_KEYS`), never here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

if TYPE_CHECKING:
    from shared.jurisdiction.workflow import Workflow

__all__ = ["ForwardingEndpoint", "ForwardingSpec", "MAX_IDS_PER_POLL", "closed_status", "reopened_status"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

MAX_IDS_PER_POLL = 50
"""At most this many ids in one ``GET /requests?service_request_id=a,b,c`` (docs/integrations.md)."""


def closed_status(configured: str | None, workflow: Workflow) -> str | None:
    """Our workflow status for an endpoint's ``closed``: ``configured`` (``forwarding.closed_status``) when
    given, else the workflow's first Open311-closed status that notifies, other than its ``merged_status``
    (a case becomes a duplicate only by a merge); None when there is none. Not checked here: the loader
    (`shared.jurisdiction.loader`) refuses an undeclared or Open311-``open`` status. Source:
    docs/integrations.md, "Open311 forwarding"."""
    if configured:
        return configured
    return next((s.id for s in workflow.statuses
                 if s.open311 == "closed" and s.notify and s.id != workflow.merged_status), None)


def reopened_status(configured: str | None, workflow: Workflow) -> str:
    """Our workflow status for an endpoint's ``open`` on a case closed here: ``configured``
    (``forwarding.reopened_status``) when given, else the workflow's ``resume_to``. Not checked here: the
    loader refuses an undeclared or Open311-``closed`` status. Source: docs/integrations.md."""
    return configured or workflow.resume_to


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ForwardingEndpoint(_Strict):
    """One outside Open311 GeoReport v2 endpoint.

    ``name``: lower-case ``[a-z0-9_-]``, the name on events, the timeline and settings (never the URL);
    ``base_url``: ``http(s)://…`` without the ``/requests.{format}`` part; ``format``: ``json`` or ``xml``
    (what we ask for and read); ``jurisdiction_id``: sent as ``jurisdiction_id`` when set; ``services``:
    our ``service_code`` → theirs, only these are sent; ``poll_interval_s``: seconds between two reads of
    the statuses; ``max_attempts``: sends before the forwarder gives up (staff can send again)."""

    name: str = Field(min_length=1, max_length=100)
    base_url: str = Field(min_length=1, max_length=2000)
    format: Literal["json", "xml"] = "json"
    jurisdiction_id: str | None = Field(default=None, min_length=1, max_length=200)
    services: dict[str, str] = Field(min_length=1)
    poll_interval_s: float = Field(default=300.0, gt=0, le=86_400)
    max_attempts: int = Field(default=8, ge=1, le=100)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"name must be lower-case letters, digits, '-' or '_', got {value!r}")
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/?#]+[^\s?#]*$", value):
            raise ValueError(f"base_url must be an http(s) URL without query or fragment, got {value!r}")
        return value.rstrip("/")

    @field_validator("services")
    @classmethod
    def _codes(cls, value: dict[str, str]) -> dict[str, str]:
        for ours, theirs in value.items():
            if not str(ours).strip() or not str(theirs).strip():
                raise ValueError("services maps our service_code to theirs; neither may be empty")
        return {str(k): str(v).strip() for k, v in value.items()}


class ForwardingSpec(_Strict):
    """``forwarding:``: the endpoints (names unique, a service sent to several endpoints is sent to each),
    ``closed_status`` (our workflow status when an endpoint says ``closed``; default: the workflow's first
    Open311-closed status that notifies), ``reopened_status`` (when it says ``open`` of a case closed here;
    default: the workflow's ``resume_to``), ``poll_failures_reported`` (a failed status read becomes
    `forwarding.forward_failed` only after this many in a row). The loader checks that both statuses are
    declared, the first Open311 ``closed`` and the second ``open``, and that every mapped service exists."""

    closed_status: str | None = None
    reopened_status: str | None = None
    poll_failures_reported: int = Field(default=3, ge=1, le=1000)
    endpoints: list[ForwardingEndpoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> ForwardingSpec:
        names = [e.name for e in self.endpoints]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"endpoint names must be unique, {', '.join(twice)} given twice")
        return self

    def endpoint(self, name: str) -> ForwardingEndpoint | None:
        """The endpoint called ``name``, or None."""
        return next((e for e in self.endpoints if e.name == name), None)

    def endpoints_for(self, service_code: str | None) -> tuple[ForwardingEndpoint, ...]:
        """The endpoints that map ``service_code`` (in YAML order; none for None)."""
        if service_code is None:
            return ()
        return tuple(e for e in self.endpoints if service_code in e.services)
