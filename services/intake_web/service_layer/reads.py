"""intake_web's reads: Open311 GET Service Definition and GET Service Requests within its limits, and the
earlier cases of a caller for the agent console. intake_web owns no data; every case comes from the case API."""

from __future__ import annotations

from typing import Any

from services.intake_web.domain.agent import default_region, phone_contact_key
from services.intake_web.domain.limits import Problem, Refused, echo, request_query
from services.intake_web.service_layer.deps import Deps
from shared.contacts import e164
from shared.intake import CaseApiUnavailable
from shared.open311 import (
    DISCOVERY_FORMATS,
    GEOREPORT_V2_SPECIFICATION,
    Discovery,
    DiscoveryEndpoint,
    ServiceDefinition,
    ServiceRequest,
)

DISCOVERY_CHANGESET = "2026-11-30T00:00:00Z"
"""When the API the discovery document describes last changed (attributes, discovery, spatial filters)."""
EARLIER_LIMIT = 50
"""At most this many earlier cases are shown to an agent (newest first)."""


def service_definition(deps: Deps, service_code: str) -> ServiceDefinition:
    """Open311 GeoReport v2 GET Service Definition of `service_code`: its attributes in `order` (the
    jurisdiction's `attributes:`; none for a service without questions). Raises `Refused`
    (`Problem.NOT_OFFERED`) for a code this jurisdiction does not offer, quoted by `limits.echo` (a
    control character or 10 000 characters in the path are not found, and said short)."""
    service = deps.jurisdiction.service(service_code) if service_code in deps.service_codes else None
    if service is None:
        raise Refused(Problem.NOT_OFFERED, f"service_code {echo(service_code)} is not offered here")
    return ServiceDefinition.model_validate(service.definition())


def discovery(deps: Deps, *, base_url: str) -> Discovery:
    """Open311 GeoReport v2 Service Discovery: one production GeoReport v2 endpoint at `base_url` (where
    ``/services.json`` and the other paths start; e.g. ``OMNI311_PUBLIC_BASE_URL``) in XML and JSON; the
    `changeset` is `DISCOVERY_CHANGESET`, the contact and key service name the jurisdiction."""
    name = deps.jurisdiction.name
    return Discovery(
        changeset=DISCOVERY_CHANGESET, contact=f"{name} 311 ({base_url})",
        key_service=f"An api_key for POST requests is issued by {name}'s 311 office; reads need none.",
        endpoints=[DiscoveryEndpoint(specification=GEOREPORT_V2_SPECIFICATION, url=base_url.rstrip("/"),
                                     changeset=DISCOVERY_CHANGESET, type="production",
                                     formats=list(DISCOVERY_FORMATS))])


def wants_extensions(value: str | None) -> bool:
    """The ``extensions`` parameter of the Open311 reads (Chicago's Open311 server's): ``true`` asks for
    the routing facts (`extended_attributes`); absent, empty or ``false`` does not (either case). Raises
    `Refused` (`Problem.INVALID`) for anything else."""
    text = (value or "").strip().lower()
    if text not in ("", "true", "false"):
        raise Refused(Problem.INVALID, "extensions must be true or false")
    return text == "true"


async def find_requests(deps: Deps, *, service_request_id: str | None = None, service_code: str | None = None,
                        status: str | None = None, start_date: str | None = None,
                        end_date: str | None = None, bbox: str | None = None, lat: str | None = None,
                        long: str | None = None, radius: str | None = None,
                        extensions: str | None = None) -> list[ServiceRequest]:
    """Open311 GeoReport v2 GET Service Requests: the parameters as sent (text), checked by
    `domain.limits.request_query` (the spatial extensions `bbox` and `lat`/`long`/`radius` in metres
    included) and `wants_extensions`, then asked of the case API (newest first; with their routing facts
    when ``extensions=true``). Raises `Refused` (`Problem.INVALID`) and `shared.intake.CaseApiUnavailable`."""
    q = request_query(service_request_id=service_request_id, service_code=service_code, status=status,
                      start_date=start_date, end_date=end_date, bbox=bbox, lat=lat, long=long, radius=radius)
    wanted = wants_extensions(extensions)
    spatial = {k: v for k, v in (("bbox", q.bbox), ("near", q.near)) if v is not None}
    return await deps.case_api.requests(service_request_id=q.service_request_id, service_code=q.service_code,
                                        status=q.status, start_date=q.start_date, end_date=q.end_date,
                                        extensions=wanted, **spatial)


async def caller_cases(deps: Deps, raw_phone: object, *, token: str | None = None) -> tuple[str, list[Any] | None]:
    """A caller's number in E.164 and their earlier cases (newest first, at most 50), found by the phone
    contact key every channel shares, each item as the case service sent it; None for the cases when the
    case service cannot tell (down, failing, refusing the token, or without the look-up): the console
    shows them as unavailable and carries on. `token` is the agent's bearer JWT, forwarded to the case
    service (`/cases/by-contact` is a staff read). Raises `Refused` (`Problem.INVALID`) when `raw_phone` is not a phone
    number."""
    region = default_region(deps.jurisdiction, deps.agent.default_region)
    phone = e164(raw_phone if isinstance(raw_phone, str) else None, region)
    if phone is None:
        raise Refused(Problem.INVALID, f"phone is not a phone number (write it with its area code, or +country "
                                       f"code); numbers without + are read as {region}")
    try:
        found = await deps.console_case_api.earlier_cases(phone_contact_key(phone), token=token)
    except CaseApiUnavailable as exc:
        if exc.status is None:
            deps.log.warning("case_api_unreachable", error=str(exc))
        else:
            deps.log.warning("earlier_cases_unavailable", status=exc.status)
        return phone, None
    return phone, found[:EARLIER_LIMIT]
