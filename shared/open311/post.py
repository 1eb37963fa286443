"""Validation of Open311 GeoReport v2 ``POST requests`` form parameters, and what the web channels (the
Open311 POST, the portal, the call agent console) do with the verdict of the one location check
(`shared.jurisdiction.point_check.check_point`; docs/channels.md, "One location check")."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.jurisdiction.point_check import PointCheck, check_point
from shared.open311.models import DECIMAL_TEXT, Open311Error, _clean_text

__all__ = [
    "DESCRIPTION_MAX_CHARS",
    "InvalidPostServiceRequest",
    "PostServiceRequest",
    "attribute_parameters",
    "coordinate_problem",
    "web_point",
    "is_blank",
    "parse_post_form",
]

#: Open311 GeoReport v2, POST Service Request: "free form text limited to 4,000 characters".
DESCRIPTION_MAX_CHARS = 4000

_ATTRIBUTE_KEY = re.compile(r"\Aattribute\[([^\[\]]+)\](\[\])?\Z")
_EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\Z")
# Characters outside XML 1.0's Char production (C0 controls but tab/CR/LF, surrogates, U+FFFE/U+FFFF).
# PostgreSQL text refuses U+0000 too; accepted, such a report would get a token but never a case.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SCALAR_FIELDS = (
    "jurisdiction_id",
    "api_key",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
)

Text = Annotated[str | None, BeforeValidator(_clean_text)]

# Letters that render as nothing (Hangul fillers, the blank braille pattern): a "description" of them is blank.
_EMPTY_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_blank(text: str) -> bool:
    """Whether `text` shows nothing: empty, or only whitespace, control and format characters (zero-width
    space U+200B, zero-width (non-)joiners U+200C/U+200D, word joiner U+2060, BOM U+FEFF, soft hyphen,
    bidi marks: Unicode categories Cc and Cf) and the fillers that render empty (`_EMPTY_LOOKING`)."""
    return all(c.isspace() or c in _EMPTY_LOOKING or unicodedata.category(c) in ("Cc", "Cf") for c in text)


class InvalidPostServiceRequest(ValueError):
    """The form breaks GeoReport v2 rules; ``errors`` holds one ``Open311Error`` (code 400) per problem."""

    def __init__(self, errors: list[Open311Error]) -> None:
        self.errors = errors
        super().__init__("; ".join(error.description for error in errors))


class PostServiceRequest(BaseModel):
    """Form parameters of ``POST requests`` (Open311 GeoReport v2, POST Service Request).

    Rules enforced (each failure is a 400 error with a readable description):
      * location: ``lat`` and ``long`` together, or ``address_string``, or ``address_id``;
      * ``lat`` in [-90, 90] and ``long`` in [-180, 180] decimal degrees (WGS84), finite;
      * ``description`` at most 4000 characters;
      * ``media_url`` is an absolute http(s) URL; ``email`` looks like ``local@domain``.

    A point off the Earth (a value that is not finite, a latitude outside [-90, 90], a longitude outside
    [-180, 180]) sent with an ``address_string`` or ``address_id`` is not refused: ``lat``/``long`` are
    then None and the point as given is ``unusable_point`` (degrees, possibly not finite), for the
    location check to judge and the report to go by its address (`web_point`).

    Documented extension: ``service_code`` is optional because this platform also accepts free
    text and chooses the service itself; a request must then carry a ``description``.

    ``attributes`` maps each ``attribute[CODE]`` to its value, and ``attribute[CODE][]``
    (multivaluelist) to the list of its values. Blank values are ``None`` (a ``description`` of only
    invisible characters too, `is_blank`).
    Jurisdiction-dependent checks (0,0, swapped axes, outside the city) belong to the caller;
    see ``web_point``.
    """

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    jurisdiction_id: Text = None
    api_key: Text = None
    service_code: Text = None
    lat: Annotated[float | None, BeforeValidator(_clean_text)] = None
    long: Annotated[float | None, BeforeValidator(_clean_text)] = None
    address_string: Text = None
    address_id: Text = None
    email: Text = None
    device_id: Text = None
    account_id: Text = None
    first_name: Text = None
    last_name: Text = None
    phone: Text = None
    description: Text = None
    media_url: Text = None
    attributes: dict[str, str | list[str]] = Field(default_factory=dict)
    unusable_point: tuple[float, float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _set_aside_a_point_off_the_earth(cls, data: Any) -> Any:
        # With a written address, such a point is the location check's to judge (it is ignored, the reason
        # kept), not a reason to refuse the report; without one it is refused below as it always was.
        if not isinstance(data, dict) or not (_clean_text(data.get("address_string"))
                                              or _clean_text(data.get("address_id"))):
            return data
        lat, long = _decimal(data.get("lat")), _decimal(data.get("long"))
        if lat is None or long is None or (_within(lat, 90.0) and _within(long, 180.0)):
            return data
        return {**data, "lat": None, "long": None, "unusable_point": (lat, long)}

    @field_validator("lat", mode="before")
    @classmethod
    def _lat_number(cls, value: Any) -> Any:
        return _coordinate(value, "lat", 90.0)

    @field_validator("long", mode="before")
    @classmethod
    def _long_number(cls, value: Any) -> Any:
        return _coordinate(value, "long", 180.0)

    @field_validator("description")
    @classmethod
    def _description_length(cls, value: str | None) -> str | None:
        if value is not None and is_blank(value):
            return None  # only zero-width or other invisible characters: no description, as a blank one
        if value is not None and len(value) > DESCRIPTION_MAX_CHARS:
            raise ValueError(
                f"description is {len(value)} characters long; the limit is {DESCRIPTION_MAX_CHARS}"
            )
        return value

    @field_validator("media_url")
    @classmethod
    def _media_url_http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"\Ahttps?://[^\s/]+\S*\Z", value, re.IGNORECASE):
            raise ValueError(f"media_url must be an absolute http(s) URL, got {value!r}")
        return value

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 254 or not _EMAIL.match(value)):
            raise ValueError(f"email is not a valid address: {value!r}")
        return value

    @model_validator(mode="after")
    def _location_and_content(self) -> PostServiceRequest:
        problems = []
        if (self.lat is None) != (self.long is None):
            problems.append("lat and long must be given together")
        elif self.lat is None and self.address_string is None and self.address_id is None:
            problems.append("a location is required: lat and long, address_string or address_id")
        if self.service_code is None and self.description is None:
            problems.append("either service_code or a description of the problem is required")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _decimal(value: Any) -> float | None:
    """`value` (form text) as a float when it is a decimal number as `DECIMAL_TEXT` spells one (NaN and
    infinities included), else None."""
    value = _clean_text(value)
    if not isinstance(value, str) or not DECIMAL_TEXT.match(value):
        return None
    return float(value)


def _within(number: float, limit: float) -> bool:
    return math.isfinite(number) and -limit <= number <= limit


def _coordinate(value: Any, name: str, limit: float) -> float | None:
    value = _clean_text(value)
    if value is None:
        return None
    try:
        if not DECIMAL_TEXT.match(value):  # float() alone also takes "4_0" and non-ASCII digits
            raise ValueError(value)
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a decimal number of degrees, got {value!r}") from None
    if not _within(number, limit):
        raise ValueError(f"{name} must be between {-limit:g} and {limit:g} degrees, got {value!r}")
    return number


def _pairs(form: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    multi_items = getattr(form, "multi_items", None)  # starlette FormData / MultiDict
    if callable(multi_items):
        return list(multi_items())
    if isinstance(form, Mapping):
        pairs: list[tuple[str, Any]] = []
        for key, value in form.items():
            if isinstance(value, list | tuple):
                pairs.extend((key, item) for item in value)
            else:
                pairs.append((key, value))
        return pairs
    return list(form)


def parse_post_form(form: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> PostServiceRequest:
    """Validate ``POST requests`` form parameters (Open311 GeoReport v2, POST Service Request).

    ``form`` is a mapping (values may be lists for repeated keys), a sequence of ``(key, value)``
    pairs, or anything with ``multi_items()`` such as starlette's ``FormData``. Unknown keys are
    ignored; a known scalar key given twice is an error, and so is a character that neither XML 1.0
    nor PostgreSQL text can hold (U+0000 and the other C0 controls but tab, CR and LF; U+FFFE, U+FFFF).

    Returns the validated ``PostServiceRequest``.

    Raises:
        InvalidPostServiceRequest: with ``errors``, a list of ``Open311Error(code=400, ...)``,
            one per problem found, ready for ``render_errors``.
    """
    errors: list[str] = []
    fields: dict[str, Any] = {}
    singles: dict[str, str] = {}
    multiples: dict[str, list[str]] = {}
    for key, value in _pairs(form):
        if not isinstance(key, str):
            errors.append(f"parameter name {key!r} is not text")
            continue
        if not isinstance(value, str):
            errors.append(f"{key} must be text, got {type(value).__name__}")
            continue
        if bad := _NOT_XML_CHAR.search(key + value):
            errors.append(f"{key!r} holds the character U+{ord(bad.group()):04X}, which cannot be stored")
            continue
        if key in _SCALAR_FIELDS:
            if key in fields:
                errors.append(f"{key} was given more than once")
            fields[key] = value
        elif key.startswith("attribute"):
            _take_attribute(key, value, singles, multiples, errors)
    if errors:
        raise InvalidPostServiceRequest([Open311Error(code=400, description=e) for e in errors])
    fields["attributes"] = {**singles, **multiples}
    try:
        return PostServiceRequest.model_validate(fields)
    except ValidationError as exc:
        raise InvalidPostServiceRequest(
            [Open311Error(code=400, description=_message(error)) for error in exc.errors()]
        ) from exc


def attribute_parameters(form: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, str | list[str]]:
    """The ``attribute[CODE]`` (one value) and ``attribute[CODE][]`` (a list) parameters of a form read
    exactly as `parse_post_form` reads them, for a form that is not an Open311 POST (the portal's report):
    code → value or list of values, as `shared.open311.attribute_problems` takes them. Other keys and
    values that are not text (uploads) are ignored.

    Raises:
        InvalidPostServiceRequest: one ``Open311Error(code=400)`` per problem: a parameter name that is
            not ``attribute[CODE]`` or ``attribute[CODE][]`` (e.g. ``attribute[a[b]]``), a code given both
            ways or a single value twice, a character XML 1.0 or PostgreSQL text cannot hold.
    """
    errors: list[str] = []
    singles: dict[str, str] = {}
    multiples: dict[str, list[str]] = {}
    for key, value in _pairs(form):
        if not (isinstance(key, str) and key.startswith("attribute") and isinstance(value, str)):
            continue
        if bad := _NOT_XML_CHAR.search(key + value):
            errors.append(f"{key!r} holds the character U+{ord(bad.group()):04X}, which cannot be stored")
            continue
        _take_attribute(key, value, singles, multiples, errors)
    if errors:
        raise InvalidPostServiceRequest([Open311Error(code=400, description=e) for e in errors])
    return {**singles, **multiples}


def _take_attribute(key: str, value: str, singles: dict[str, str], multiples: dict[str, list[str]],
                    errors: list[str]) -> None:
    """Add one ``attribute...`` parameter to `singles` or `multiples`, or its problem to `errors`."""
    match = _ATTRIBUTE_KEY.match(key)
    if match is None:
        errors.append(f"malformed attribute parameter {key!r}; expected attribute[CODE] or attribute[CODE][]")
        return
    code, is_list = match.group(1), match.group(2) is not None
    if (code in singles and is_list) or (code in multiples and not is_list):
        errors.append(f"attribute {code!r} is given both as a single value and as a list")
    elif is_list:
        multiples.setdefault(code, []).append(value)
    elif code in singles:
        errors.append(f"attribute[{code}] was given more than once")
    else:
        singles[code] = value


def _message(error: Any) -> str:
    exc = error.get("ctx", {}).get("error")
    text = str(exc) if exc is not None else error["msg"]
    loc = ".".join(str(p) for p in error["loc"])
    # Our validators already name the field; pydantic's own messages do not.
    return text if exc is not None or not loc else f"{loc}: {text}"


IGNORED_WITH_AN_ADDRESS = ("placeholder", "out_of_range")
"""Verdicts of `check_point` that leave no point: a web report that came with a written address is taken
by its address (the point ignored, the reason kept); without one it is refused."""


def coordinate_problem(lat: float, long: float, inside: Callable[[float, float], bool]) -> str | None:
    """Say why a point cannot be where a request is, or ``None`` when it is inside the jurisdiction.

    ``lat``/``long`` are WGS84 decimal degrees (any float); ``inside(lat, long)`` answers whether a point
    is within the jurisdiction. The verdict is `shared.jurisdiction.point_check.check_point`'s (out of
    range, the 0,0 placeholder, swapped axes, outside); this only words it for a sender who must correct
    the request (a swap names the values to send).

    Returns a sentence for an Open311 error description (Open311 GeoReport v2, POST Service Request: the
    server may reject a location it cannot serve), or ``None``.
    """
    return _refusal(check_point(lat, long, contains=inside))


def _refusal(check: PointCheck) -> str | None:
    if check.verdict == "ok":
        return None
    if check.verdict == "swapped":
        lat, long = check.given
        return (f"latitude and longitude appear swapped: ({lat}, {long}) is outside the jurisdiction "
                f"but ({long}, {lat}) is inside; send lat={check.lat} and long={check.long}")
    return check.reason


def web_point(lat: float, long: float, *, contains: Callable[[float, float], bool],
              has_address: bool) -> tuple[PointCheck, str | None]:
    """What a web channel (Open311 POST, portal, call agent console) does with the point (`lat`, `long`)
    (WGS84 degrees, any float): the verdict of `check_point` (`contains` is `Jurisdiction.contains`) and
    the refusal, or None when the report may go on (docs/channels.md, "One location check").

    ``ok``: accepted as given. ``placeholder`` and ``out_of_range`` with a written address (`has_address`:
    an ``address_string`` or ``address_id``): accepted without the point (the verdict's `lat`/`long` are
    None), `PointCheck.as_attribute()` to be kept on the message as ``attributes.location_check``; without
    an address refused. ``swapped`` and ``outside``: refused (a program can correct itself), the refusal
    saying which values to send for a swap.
    """
    check = check_point(lat, long, contains=contains)
    if has_address and check.verdict in IGNORED_WITH_AN_ADDRESS:
        return check, None
    return check, _refusal(check)
