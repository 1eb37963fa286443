"""The Open311 limits intake_web enforces before it publishes or asks the case service anything: where
and when a POSTed report may say it was made, and what a GET Service Requests query may ask. Pure."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from shared.jurisdiction import Service
from shared.jurisdiction.point_check import PointCheck
from shared.open311 import (
    AttributeAnswers,
    BoundingBox,
    Circle,
    PostServiceRequest,
    ServiceDefinition,
    SpatialFilterError,
    attribute_problems,
    parse_bbox,
    parse_circle,
    to_aware_utc,
    web_point,
)

FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far ahead of our clock a report's `requested_datetime` may be: the sender's clock may run fast."""
EARLIEST_REQUESTED = datetime(1990, 1, 1, tzinfo=UTC)
"""The earliest `requested_datetime` a report may carry."""
MAX_QUERY_SPAN = timedelta(days=90)
"""Open311 GeoReport v2, GET Service Requests: a start_date/end_date range may not span more than 90 days."""
STATUSES = ("open", "closed")
"""Open311 GeoReport v2 request statuses; a `status` filter is one or both, comma-separated."""


class Problem(Enum):
    """What kind of refusal a `Refused` is; the entry point answers each with its own status."""

    INVALID = "invalid"
    """The request breaks a rule (GeoReport v2's or one of ours): the sender must change it."""
    FORBIDDEN = "forbidden"
    """The sender may not do this (no valid api_key)."""
    NOT_OFFERED = "not_offered"
    """The request names a thing this jurisdiction does not have (a service it does not offer, another
    jurisdiction_id)."""


class Refused(ValueError):
    """A request refused: its `problem` kind and one Open311 error description per problem found."""

    def __init__(self, problem: Problem, *descriptions: str) -> None:
        self.problem = problem
        self.descriptions = descriptions
        super().__init__("; ".join(descriptions))


MAX_ECHO_CHARS = 64
"""The most characters of a sender's value an error description quotes."""


def echo(value: str, limit: int = MAX_ECHO_CHARS) -> str:
    """`value` as an error may quote it: its first `limit` characters (``…`` when there were more), each one
    that is not printable (control, format, surrogate, noncharacter such as U+FFFE) replaced by U+FFFD, so
    the error stays short and XML 1.0 can carry it."""
    shown = "".join(c if c.isprintable() else "\ufffd" for c in value[:limit])
    return shown + ("…" if len(value) > limit else "")


def field_values(source: object, name: str) -> list[str]:
    """Every text value of `name` in a query or form (`getlist` of Starlette's QueryParams and FormData;
    a plain mapping's one value), uploads skipped."""
    getlist = getattr(source, "getlist", None)
    values = getlist(name) if getlist is not None else [getattr(source, "get", lambda _n: None)(name)]
    return [v for v in values if isinstance(v, str)]


def check_jurisdiction(given: str | Sequence[str] | None, ours: str) -> None:
    """Open311 GeoReport v2 (every method: "404 - jurisdiction_id not found"): an optional `jurisdiction_id`
    must be this jurisdiction's id `ours`, compared exactly (a value with surrounding blanks is another id;
    an empty one is absent). `given` is the one value, or every value sent (`field_values`).

    Raises `Refused`: `Problem.INVALID` ``jurisdiction_id given more than once`` for two values or more (a
    proxy and the service could read different ones); `Problem.NOT_OFFERED` ``jurisdiction_id <given> not
    found``, the value quoted by `echo` (at most 64 characters, non-printable ones replaced).
    """
    values = [given] if isinstance(given, str) else list(given or ())
    if len(values) > 1:
        raise Refused(Problem.INVALID, "jurisdiction_id given more than once")
    if values and values[0] and values[0] != ours:
        raise Refused(Problem.NOT_OFFERED, f"jurisdiction_id {echo(values[0])} not found")


def place_problem(req: PostServiceRequest, *, service_codes: Collection[str],
                  contains: Callable[[float, float], bool], services_url: str) -> str | None:
    """Why this jurisdiction cannot take a parsed POST, or None: a `service_code` it does not offer
    (`services_url`, e.g. ``/services.json``, is named in the answer), or a point the location check
    refuses on the web (`shared.open311.web_point`, `contains(lat, long)` in WGS84 degrees: swapped axes,
    outside, or a 0,0 placeholder or a point off the Earth without an address to go by)."""
    if req.service_code is not None and req.service_code not in service_codes:
        return f"service_code {echo(req.service_code)} is not offered here; see GET {services_url}"
    check = _web_check(req, contains)
    return check[1] if check is not None else None


@dataclass(frozen=True)
class ReportedPoint:
    """The point a POST is published with (WGS84 degrees, both None when it has none or it was ignored)
    and the location check to keep on the message as ``attributes.location_check`` (None when ``ok`` or
    no point was sent)."""

    lat: float | None
    long: float | None
    location_check: dict[str, Any] | None = None


def reported_point(req: PostServiceRequest, contains: Callable[[float, float], bool]) -> ReportedPoint:
    """The point of a POST that `place_problem` accepted: the one sent when the location check found it
    inside; none, with the verdict and reason (`PointCheck.as_attribute`), for a 0,0 placeholder or a point
    off the Earth sent with an address (docs/channels.md, "One location check")."""
    check = _web_check(req, contains)
    if check is None:
        return ReportedPoint(None, None)
    verdict, _ = check
    return ReportedPoint(verdict.lat, verdict.long, verdict.as_attribute())


def _web_check(req: PostServiceRequest, contains: Callable[[float, float], bool]
               ) -> tuple[PointCheck, str | None] | None:
    point = (req.lat, req.long) if req.lat is not None and req.long is not None else req.unusable_point
    if point is None:
        return None
    has_address = req.address_string is not None or req.address_id is not None
    return web_point(point[0], point[1], contains=contains, has_address=has_address)


def attribute_answers(req: PostServiceRequest, service: Service | None) -> AttributeAnswers:
    """The answers of a parsed POST (`req.attributes`) to `service`'s Open311 attributes, as kept on the
    case (`shared.open311.attribute_problems`: blank optional answers dropped, a multivaluelist a list).
    `service` is the jurisdiction's service of `req.service_code`, None for a request without one (free
    text: no definition, so no answer can be checked).

    Raises `Refused` (`Problem.INVALID`), one description per problem, each naming the attribute code: a
    required one missing or blank, a value outside its list, a number or a datetime that is not one,
    several values for a single-value attribute, a code the service does not define (GeoReport v2, POST
    Service Request; docs/residents-and-insights.md).
    """
    if service is None:
        if req.attributes:
            raise Refused(Problem.INVALID, *(f"attribute {code} needs a service_code whose definition has it"
                                             for code in req.attributes))
        return {}
    problems, answers = attribute_problems(ServiceDefinition.model_validate(service.definition()), req.attributes)
    if problems:
        raise Refused(Problem.INVALID, *(p.sentence for p in problems))
    return answers


def requested_at(raw: str | None, now: datetime) -> datetime:
    """When a POSTed report was made (omni311 extension of Open311 POST Service Request, for bulk
    imports and apps that queue reports offline): `now` when `raw` is empty, else `raw` as an aware UTC
    time, which must carry an offset and lie within [1990-01-01, `now` + 5 minutes].

    Raises `Refused` (`Problem.INVALID`) for text that is not such a time.
    """
    if not raw:
        return now
    try:
        requested = to_aware_utc(raw)
    except ValueError as exc:
        raise Refused(Problem.INVALID, f"requested_datetime: {exc}") from exc
    if requested is None or requested > now + FUTURE_TOLERANCE or requested < EARLIEST_REQUESTED:
        raise Refused(Problem.INVALID, "requested_datetime must be an ISO 8601 time with offset, not in the "
                                       "future and not before 1990")
    return requested


@dataclass(frozen=True)
class RequestQuery:
    """A valid GET Service Requests query: the filters given (blank ones are None; the first three are
    comma-separated lists) and a date range in aware UTC times spanning at most 90 days; the omni311
    spatial extensions `bbox` (WGS84 box) and `near` (a point and a radius in metres)."""

    service_request_id: str | None = None
    service_code: str | None = None
    status: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    bbox: BoundingBox | None = None
    near: Circle | None = None


def request_query(*, service_request_id: str | None = None, service_code: str | None = None,
                  status: str | None = None, start_date: str | None = None,
                  end_date: str | None = None, bbox: str | None = None, lat: str | None = None,
                  long: str | None = None, radius: str | None = None) -> RequestQuery:
    """Check the parameters of Open311 GeoReport v2 GET Service Requests, as sent (text), and the omni311
    spatial filters (docs/residents-and-insights.md): `bbox` ``west,south,east,north`` in WGS84 degrees,
    `lat`/`long`/`radius` (degrees, metres 1–50 000) all three together.

    Raises `Refused` (`Problem.INVALID`): a date that is not ISO 8601 with an offset, a range over 90 days
    (`MAX_QUERY_SPAN`), a status other than ``open`` and ``closed``, a malformed spatial filter (the
    description names it: `shared.open311.parse_bbox`, `parse_circle`). Checked in that order; the first
    problem is the answer.
    """
    try:
        start = to_aware_utc(start_date) if start_date else None
        end = to_aware_utc(end_date) if end_date else None
    except ValueError as exc:
        raise Refused(Problem.INVALID, f"start_date/end_date must be ISO 8601 with offset: {exc}") from exc
    if start and end and end - start > MAX_QUERY_SPAN:
        raise Refused(Problem.INVALID, "start_date and end_date may not span more than 90 days")
    if status and any(x not in STATUSES for x in status.split(",")):
        raise Refused(Problem.INVALID, "status must be open, closed or both separated by a comma")
    try:
        box = parse_bbox(bbox)
        near = parse_circle(lat, long, radius)
    except SpatialFilterError as exc:
        raise Refused(Problem.INVALID, str(exc)) from exc
    return RequestQuery(service_request_id=service_request_id or None, service_code=service_code or None,
                        status=status or None, start_date=start.astimezone(UTC) if start else None,
                        end_date=end.astimezone(UTC) if end else None, bbox=box, near=near)
