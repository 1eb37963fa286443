"""Call-agent intake rules (pure): the caller's number in E.164 and its contact key, and the `intake.message_received` (channel ``phone``) of one agent submission."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from shared.contacts import contact_key, e164
from shared.events import MessageReceived, Pii
from shared.jurisdiction import Jurisdiction
from shared.open311 import web_point

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{8,100}$")
MAX_DESCRIPTION = 4000
MAX_ADDRESS = 300


def default_region(jur: Jurisdiction, configured: str | None) -> str:
    """Where caller numbers written without ``+`` are read (ISO country code, upper case): the
    `configured` setting, else the jurisdiction's holiday country, else US."""
    if configured:
        return configured.upper()
    country = getattr(jur.holidays, "country", None) if jur.holidays is not None else None
    return (country or "US").upper()


def phone_contact_key(phone_e164: str) -> str:
    """The contact key of a caller: ``ck_`` + sha256(``phone:<E.164>``)[:32], the formula of the SMS/voice
    intake and of Open311 reports carrying only a phone, so the caller's cases line up across channels."""
    return contact_key("phone", phone_e164)


def agent_token_for(agent_id: str, request_id: str) -> str:
    """The token (and `channel_message_id`) of an agent submission: the same agent re-sending the same
    client-generated `request_id` (a retry) gets the same token, hence the same case."""
    return str(uuid5(NAMESPACE_URL, f"omni311:agent:{agent_id}:{request_id}"))


def agent_event_id_for(token: str) -> UUID:
    """The intake event id of an agent token: a retried submission republishes the very same event."""
    return uuid5(NAMESPACE_URL, f"omni311:agent-event:{token}")


@dataclass(frozen=True)
class AgentSubmission:
    """A validated agent submission; `phone` in E.164, `lat`/`long` WGS84 degrees (both or neither)."""

    request_id: str
    phone: str
    service_code: str
    description: str
    lat: float | None
    long: float | None
    address: str | None
    caller_name: str | None = None
    location_check: dict[str, Any] | None = None
    """The location check's verdict when the point given was ignored (`PointCheck.as_attribute`)."""


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    return value.strip() if isinstance(value, str) else ("" if value is None else str(value).strip())


def _number(body: Mapping[str, Any], key: str, errors: list[str]) -> float | None:
    value = body.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except OverflowError:  # a JSON integer too long for a float (10**400): off the Earth, as 1e400 is
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        errors.append(f"{key} must be a number in decimal degrees (WGS84)")
        return None
    return number  # not finite or off the Earth: the location check's to judge (`web_point`)


def parse_submission(body: Any, *, service_codes: set[str] | frozenset[str], default_region: str,
                     contains: Callable[[float, float], bool]) -> AgentSubmission | list[str]:
    """Validate the JSON body of ``POST /agent/requests``; the submission, or Open311-style error texts.

    Fields: ``request_id`` (client-generated, 8-100 of ``A-Za-z0-9._:-``), ``caller_phone``,
    ``service_code``, ``description``, and a location: ``lat`` and ``long`` (WGS84 degrees) and/or
    ``address``. Optional ``caller_name``. The point goes through the web channels' location check
    (`shared.open311.web_point`, `contains` is `Jurisdiction.contains`): swapped axes and a point outside
    are refused with the reason; a 0,0 placeholder or a point off the Earth is refused without an address
    and ignored with one (the submission then has no point and its `location_check` says why).
    """
    if not isinstance(body, Mapping):
        return ["the body must be a JSON object"]
    errors: list[str] = []
    request_id = _text(body, "request_id")
    if not REQUEST_ID_RE.match(request_id):
        errors.append("request_id is required: 8 to 100 letters, digits or . _ : - chosen by the client, "
                      "the same on a retry")
    raw_phone = _text(body, "caller_phone")
    phone = e164(raw_phone, default_region) if raw_phone else None
    if not raw_phone:
        errors.append("caller_phone is required")
    elif phone is None:
        errors.append(f"caller_phone is not a phone number (write it with its area code, or +country code); "
                      f"numbers without + are read as {default_region}")
    service_code = _text(body, "service_code")
    if not service_code:
        errors.append("service_code is required; see GET /services.json")
    elif service_code not in service_codes:
        errors.append(f"service_code {service_code} is not offered here; see GET /services.json")
    description = _text(body, "description")
    if len(description) > MAX_DESCRIPTION:
        errors.append(f"description may not exceed {MAX_DESCRIPTION} characters")
    address = _text(body, "address") or None
    if address and len(address) > MAX_ADDRESS:
        errors.append(f"address may not exceed {MAX_ADDRESS} characters")
    lat, long = _number(body, "lat", errors), _number(body, "long", errors)
    if (lat is None) != (long is None) and not any(e.startswith(("lat ", "long ")) for e in errors):
        errors.append("lat and long must be given together")
    location_check = None
    if lat is not None and long is not None:
        check, problem = web_point(lat, long, contains=contains, has_address=bool(address))
        if problem:
            errors.append(problem)
        lat, long, location_check = check.lat, check.long, check.as_attribute()
    if location_check is None and lat is None and long is None and not address and not any(
            e.startswith(("lat ", "long ")) for e in errors):
        errors.append("a location is required: lat and long, or an address")
    if errors:
        return errors
    assert phone is not None
    return AgentSubmission(request_id=request_id, phone=phone, service_code=service_code,
                           description=description, lat=lat, long=long, address=address,
                           caller_name=_text(body, "caller_name") or None, location_check=location_check)


def message_from_agent(sub: AgentSubmission, *, agent_id: str, now: datetime, language: str | None = None
                       ) -> MessageReceived:
    """The intake payload of one agent submission (channel ``phone``, `agent_id` set, token as message id)."""
    token = agent_token_for(agent_id, sub.request_id)
    return MessageReceived(
        channel="phone",
        channel_message_id=token,
        contact_key=phone_contact_key(sub.phone),
        received_at=now,
        service_code=sub.service_code,
        description=sub.description,
        address=sub.address,
        lat=sub.lat,
        long=sub.long,
        requested_datetime=now,
        language=language,
        agent_id=agent_id,
        attributes={"location_check": sub.location_check} if sub.location_check else {},
        pii=Pii(phone=sub.phone, name=sub.caller_name),
    )
