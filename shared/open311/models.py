"""Open311 GeoReport v2 resources as pydantic v2 models: services, definitions, requests, errors."""

from __future__ import annotations

import email.utils
import math
import re
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "ASSUME_TZ_CONTEXT_KEY",
    "AttributeDatatype",
    "AttributeValue",
    "Open311Error",
    "PostServiceRequestResponse",
    "Service",
    "ServiceAttribute",
    "EXTENDED_ATTRIBUTE_KEYS",
    "ExtendedAttributes",
    "ServiceDefinition",
    "ServiceRequest",
    "SuggestedService",
    "ServiceType",
    "Status",
    "to_aware_utc",
]

#: Validation-context key holding a ``tzinfo`` used for datetimes that carry no UTC offset.
#: Without it such datetimes are rejected (GeoReport v2 requires ISO 8601 with an offset).
ASSUME_TZ_CONTEXT_KEY = "assume_tz"

ServiceType = Literal["realtime", "batch", "blackbox"]
Status = Literal["open", "closed"]
AttributeDatatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]


def _clean_text(value: Any) -> Any:
    """Strip surrounding whitespace; an empty or blank string means "absent" (``None``).

    Real payloads carry ``<description/>``, ``<description></description>``, trailing spaces in
    ``media_url`` and newline-padded ``service_notice``; all of them normalise here, so a model
    always holds the same value whichever wire form it came from.
    """
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _lower(value: Any) -> Any:
    value = _clean_text(value)
    return value.lower() if isinstance(value, str) else value


def to_aware_utc(value: Any, assume_tz: tzinfo | None = None) -> datetime | None:
    """Turn a GeoReport datetime into an aware UTC ``datetime``.

    Accepts ``datetime`` objects and strings in ISO 8601 (``2010-04-14T06:37:38-08:00``,
    ``...Z``, ``...-0800``, space instead of ``T``, fractional seconds) or RFC 2822
    (``Wed, 14 Apr 2010 06:37:38 -0800``). Blank strings and ``None`` give ``None``.

    A value without a UTC offset is ambiguous. It is interpreted in ``assume_tz`` when one is
    given, otherwise ``ValueError`` is raised (GeoReport v2 requires W3C/ISO 8601 with offset).

    Raises:
        ValueError: unparseable text, or a naive value with no ``assume_tz``.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, OverflowError):
                raise ValueError(f"not an ISO 8601 datetime: {value!r}") from None
    else:
        raise ValueError(f"expected an ISO 8601 datetime string, got {type(value).__name__}")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if assume_tz is None:
            raise ValueError(
                f"datetime {value!s} has no UTC offset; GeoReport v2 requires one "
                f"(pass context {{{ASSUME_TZ_CONTEXT_KEY!r}: <tzinfo>}} to assume a zone)"
            )
        parsed = parsed.replace(tzinfo=assume_tz)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+14:00 is before the first representable instant
        raise ValueError(f"datetime {value!s} is outside the range of representable UTC times") from None


def _datetime_field(value: Any, info: ValidationInfo) -> datetime | None:
    assume_tz = (info.context or {}).get(ASSUME_TZ_CONTEXT_KEY)
    return to_aware_utc(value, assume_tz)


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


#: A decimal number as GeoReport v2 clients write one: ASCII digits, optional sign, point and exponent
#: (``nan``/``inf`` pass here so that the range check names them). ``float()`` alone would also take
#: ``"4_0"`` (40) and non-ASCII digits such as ``"٤٠"``.
DECIMAL_TEXT = re.compile(
    r"\A[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z|\A[+-]?(?:nan|inf|infinity)\Z", re.ASCII | re.IGNORECASE
)


def _degrees(value: Any) -> Any:
    """Blank is ``None``; text must be a plain decimal number; booleans are not numbers."""
    value = _clean_text(value)
    if isinstance(value, bool):
        raise ValueError(f"must be a decimal number of degrees, got {value!r}")
    if isinstance(value, str) and not DECIMAL_TEXT.match(value):
        raise ValueError(f"must be a decimal number of degrees, got {value!r}")
    return value


Text = Annotated[str | None, BeforeValidator(_clean_text)]
RequiredText = Annotated[str, BeforeValidator(_clean_text)]
UtcDatetime = Annotated[datetime | None, BeforeValidator(_datetime_field)]
Latitude = Annotated[
    Annotated[float, Field(ge=-90, le=90), AfterValidator(_finite)] | None, BeforeValidator(_degrees)
]
Longitude = Annotated[
    Annotated[float, Field(ge=-180, le=180), AfterValidator(_finite)] | None, BeforeValidator(_degrees)
]


class _Open311Model(BaseModel):
    """Common configuration: unknown fields from other servers are kept in ``model_extra``.

    Numbers arriving where text is expected (``"service_code": 6``, ``"zipcode": 94122``) are
    taken as text.
    """

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)


class Service(_Open311Model):
    """One entry of ``GET services`` (Open311 GeoReport v2, GET Service List).

    ``keywords`` is a comma-separated string on the wire and a list of trimmed, non-empty
    keywords here; a keyword may not itself contain a comma.
    """

    service_code: RequiredText
    service_name: RequiredText
    description: Text = None
    metadata: bool = False
    type: Annotated[ServiceType, BeforeValidator(_lower)]
    keywords: list[str] = Field(default_factory=list)
    group: Text = None

    @field_validator("keywords", mode="before")
    @classmethod
    def _split_keywords(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return value.split(",")
        return value

    @field_validator("keywords")
    @classmethod
    def _clean_keywords(cls, value: list[str]) -> list[str]:
        cleaned = [k.strip() for k in value if k.strip()]
        for keyword in cleaned:
            if "," in keyword:
                raise ValueError(f"keyword {keyword!r} contains a comma (keywords are comma-separated)")
        return cleaned


class AttributeValue(_Open311Model):
    """One allowed value of a list attribute: ``key`` is sent back, ``name`` is shown."""

    key: RequiredText
    name: RequiredText


class ServiceAttribute(_Open311Model):
    """One question of a service definition (Open311 GeoReport v2, GET Service Definition).

    ``values`` is required and non-empty for ``singlevaluelist``/``multivaluelist``.
    """

    variable: bool = True
    code: RequiredText
    datatype: Annotated[AttributeDatatype, BeforeValidator(_lower)]
    required: bool = False
    datatype_description: Text = None
    order: int | None = None
    description: Text = None
    values: list[AttributeValue] = Field(default_factory=list)

    @field_validator("values", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @model_validator(mode="after")
    def _list_types_need_values(self) -> ServiceAttribute:
        if self.datatype in ("singlevaluelist", "multivaluelist") and not self.values:
            raise ValueError(f"attribute {self.code!r} is a {self.datatype} without values")
        return self


class ServiceDefinition(_Open311Model):
    """The questions of one service (Open311 GeoReport v2, GET Service Definition)."""

    service_code: RequiredText
    attributes: list[ServiceAttribute] = Field(default_factory=list)

    @field_validator("attributes", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value


def _probability(value: Any) -> Any:
    """Blank is ``None``; text must be a plain decimal number (XML carries numbers as text)."""
    value = _clean_text(value)
    if isinstance(value, bool):
        raise ValueError(f"must be a probability in [0, 1], got {value!r}")
    if isinstance(value, str) and not DECIMAL_TEXT.match(value):
        raise ValueError(f"must be a probability in [0, 1], got {value!r}")
    return value


Probability = Annotated[
    Annotated[float, Field(ge=0, le=1), AfterValidator(_finite)] | None, BeforeValidator(_probability)
]


class SuggestedService(_Open311Model):
    """One service the text classifier proposed for a request, with its probability in [0, 1] (a keyword
    score for the keyword matcher)."""

    service_code: RequiredText
    probability: Probability = None


EXTENDED_ATTRIBUTE_KEYS = (
    "district", "district_name", "queue", "rule_id",
    "category_source", "classifier_method", "classifier_probability", "model_version", "suggestions",
    "location_status", "location_source", "location_confidence", "location_matched",
)
"""The keys of `ExtendedAttributes`, in order (docs/judgement.md, "Routing facts on the case API and on
Open311")."""


class ExtendedAttributes(_Open311Model):
    """The routing facts of a request, under ``extended_attributes`` when ``extensions=true`` is asked (as
    Chicago's Open311 server does; docs/judgement.md, "Routing facts on the case API and on Open311").

    Public facts only, never contact data: the district (id and name), queue and rule the router chose;
    where the category came from (`category_source`: ``service_code``, ``keywords`` or ``fallback``), by
    which classifier (`classifier_method` ``model`` or ``keywords``), the top suggestion's probability
    (`classifier_probability`, model only), the model version and the top 3 `suggestions` (best first;
    empty when none, also when XML carried an empty ``<suggestions/>``); how the place was found
    (`location_status` ``point``, ``placed``, ``confirm`` or ``not_found``; `location_source` the geocoder;
    `location_confidence` in [0, 1]; `location_matched` the matched form). Every value None when the
    request was never routed. Keys another server adds are kept in ``model_extra``.
    """

    district: Text = None
    district_name: Text = None
    queue: Text = None
    rule_id: Text = None
    category_source: Text = None
    classifier_method: Text = None
    classifier_probability: Probability = None
    model_version: Text = None
    suggestions: list[SuggestedService] = Field(default_factory=list)
    location_status: Text = None
    location_source: Text = None
    location_confidence: Probability = None
    location_matched: Text = None

    @field_validator("suggestions", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, dict) else value


class ServiceRequest(_Open311Model):
    """One request as returned by ``GET requests`` (Open311 GeoReport v2, GET Service Requests).

    Datetimes are aware and normalised to UTC (equal, as instants, to the offset sent);
    ``lat``/``long`` are WGS84 degrees. Blank values are ``None``. `extended_attributes` (the routing
    facts, `ExtendedAttributes`) is there only when ``extensions=true`` was asked: a request without it
    renders exactly as GeoReport v2 says, with no ``extended_attributes`` member.
    """

    service_request_id: RequiredText
    status: Annotated[Status, BeforeValidator(_lower)]
    status_notes: Text = None
    service_name: Text = None
    service_code: Text = None
    description: Text = None
    agency_responsible: Text = None
    service_notice: Text = None
    requested_datetime: UtcDatetime = None
    updated_datetime: UtcDatetime = None
    expected_datetime: UtcDatetime = None
    address: Text = None
    address_id: Text = None
    zipcode: Text = None
    lat: Latitude = None
    long: Longitude = None
    media_url: Text = None
    extended_attributes: ExtendedAttributes | None = None


class PostServiceRequestResponse(_Open311Model):
    """One item of the ``POST requests`` response (Open311 GeoReport v2, POST Service Request).

    Exactly what the spec allows: a ``service_request_id`` at once, or a ``token`` to exchange
    for one later (at least one of the two is required).
    """

    token: Text = None
    service_request_id: Text = None
    service_notice: Text = None
    account_id: Text = None

    @model_validator(mode="after")
    def _id_or_token(self) -> PostServiceRequestResponse:
        if self.token is None and self.service_request_id is None:
            raise ValueError("a POST response item needs a service_request_id or a token")
        return self


class Open311Error(_Open311Model):
    """One ``<error>`` of a GeoReport v2 error response: HTTP-like ``code`` and a description."""

    code: int
    description: RequiredText
