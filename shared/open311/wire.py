"""Open311 GeoReport v2 wire formats: tolerant parsing and strict rendering of XML and JSON bodies."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal, TypeVar

from lxml import etree
from pydantic import BaseModel, ValidationError

from shared.open311.attributes import Discovery
from shared.open311.models import (
    ASSUME_TZ_CONTEXT_KEY,
    Open311Error,
    PostServiceRequestResponse,
    Service,
    ServiceDefinition,
    ServiceRequest,
)

__all__ = [
    "Format",
    "Open311FormatError",
    "parse_discovery",
    "parse_errors",
    "parse_post_response",
    "parse_requests",
    "parse_service_definition",
    "parse_services",
    "render_discovery",
    "render_errors",
    "render_post_response",
    "render_requests",
    "render_service_definition",
    "render_services",
]

Format = Literal["xml", "json"]
M = TypeVar("M", bound=BaseModel)

# Wrapper element -> item element, for lists that the spec nests (<attributes><attribute>...).
_LIST_ITEMS = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format",
               "suggestions": "suggestion"}
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_HTTP_STATUS_LINE = re.compile(rb"\AHTTP/\d(?:\.\d)?\s+(\d{3})\b[^\r\n]*\r?\n")
_HEADER_LINE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Characters outside XML 1.0's Char production (C0 controls but tab/CR/LF, surrogates, U+FFFE/U+FFFF).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Open311FormatError(ValueError):
    """A GeoReport v2 body could not be parsed or rendered; the message says where and why."""


# --------------------------------------------------------------------------- helpers: parsing


def _check_fmt(fmt: str) -> None:
    if fmt not in ("xml", "json"):
        raise ValueError(f"fmt must be 'xml' or 'json', got {fmt!r}")


def _as_bytes(body: bytes | str, what: str) -> bytes:
    if not isinstance(body, str):
        return bytes(body)
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no UTF-8 text can hold it
        raise Open311FormatError(f"{what}: the text body is not valid Unicode: {exc}") from exc


def _parse_xml(body: bytes, what: str) -> etree._Element:
    """Parse untrusted XML: no DTDs, no entity expansion, no network."""
    data = body.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not data:
        raise Open311FormatError(f"{what} (xml): empty body")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise Open311FormatError(f"{what} (xml): not well-formed: {exc}") from exc
    if root.getroottree().docinfo.doctype:
        raise Open311FormatError(f"{what} (xml): DOCTYPE declarations are not accepted")
    return root


def _local(element: etree._Element) -> str:
    # Namespace declarations (the SF feed still carries SOAP ones) must not change element names.
    return etree.QName(element).localname


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


def _element_value(element: etree._Element) -> Any:
    """Leaf -> its text (``None`` when empty); wrapper of a known list -> list; else -> dict."""
    kids = _children(element)
    name = _local(element)
    if not kids:
        return element.text
    if name in _LIST_ITEMS:
        item = _LIST_ITEMS[name]
        strays = sorted({_local(kid) for kid in kids if _local(kid) != item})
        if not strays:
            return [_element_value(kid) for kid in kids]
        if any(_local(kid) == item for kid in kids):
            # Not silently dropped: an <option> among <value>s is a choice the client would never offer.
            raise _StrayElement(f"unexpected <{strays[0]}> inside <{name}>, expected <{item}>")
        # No <item> at all: another server's own structure (e.g. attribute answers in a request), kept.
    return _element_dict(element)


class _StrayElement(ValueError):
    """An element that does not belong in a list wrapper; reported with the body's name by ``_xml_dict``."""


def _xml_dict(element: etree._Element, what: str) -> dict[str, Any]:
    try:
        return _element_dict(element)
    except _StrayElement as exc:
        raise Open311FormatError(f"{what} (xml): {exc}") from exc


def _element_dict(element: etree._Element) -> dict[str, Any]:
    """Children by local name; a name repeated among siblings becomes a list."""
    result: dict[str, Any] = {}
    repeated: set[str] = set()
    for kid in _children(element):
        name = _local(kid)
        value = _element_value(kid)
        if name not in result:
            result[name] = value
            continue
        if name not in repeated:
            result[name] = [result[name]]
            repeated.add(name)
        result[name].append(value)
    return result


def _xml_items(body: bytes, root_name: str, item_name: str, what: str) -> list[dict[str, Any]]:
    root = _parse_xml(body, what)
    if _local(root) != root_name:
        raise Open311FormatError(f"{what} (xml): expected root <{root_name}>, got <{_local(root)}>")
    items = []
    for kid in _children(root):
        if _local(kid) != item_name:
            raise Open311FormatError(
                f"{what} (xml): unexpected <{_local(kid)}> inside <{root_name}>, expected <{item_name}>"
            )
        items.append(_xml_dict(kid, what))
    return items


class _DuplicateKey(ValueError):
    """A JSON object names the same member twice (carries the name)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook``: a repeated name is ambiguous (RFC 8259 §4), as a repeated XML element is."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _check_unicode(data: Any, what: str) -> None:
    """Refuse ``\\udxxx`` escapes that decode to lone surrogates: no UTF-8 output could carry them."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts: Iterable[str] = (item,)
        elif isinstance(item, dict):
            texts = item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for text in texts:
            if _SURROGATE.search(text):
                raise Open311FormatError(
                    f"{what} (json): {text[:40]!r} holds a lone surrogate escape, which is not Unicode text"
                )


def _json_load(body: bytes, what: str) -> Any:
    try:
        data = json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise Open311FormatError(f"{what} (json): an object names {exc.args[0]!r} more than once") from exc
    # ValueError: an integer of more than 4300 digits; RecursionError: nesting deeper than the stack.
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Open311FormatError(f"{what} (json): not valid JSON: {exc}") from exc
    _check_unicode(data, what)
    return data


def _json_items(body: bytes, wrapper: str, what: str) -> list[Any]:
    """A JSON array of objects; ``{"<wrapper>": [...]}`` is also accepted (seen in the wild)."""
    data = _json_load(body, what)
    if isinstance(data, dict) and set(data) == {wrapper} and isinstance(data[wrapper], list):
        data = data[wrapper]
    if not isinstance(data, list):
        raise Open311FormatError(f"{what} (json): expected an array, got {type(data).__name__}")
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise Open311FormatError(f"{what} (json): item #{index} is not an object")
    return data


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"]) or "(item)"
        message = str(error["ctx"]["error"]) if "error" in error.get("ctx", {}) else error["msg"]
        parts.append(f"{loc}: {message}")
    return "; ".join(parts)


def _validate_all(
    model: type[M], items: Sequence[Any], what: str, fmt: str, context: dict[str, Any] | None = None
) -> list[M]:
    result = []
    for index, item in enumerate(items, start=1):
        try:
            result.append(model.model_validate(item, context=context))
        except ValidationError as exc:
            raise Open311FormatError(f"{what} ({fmt}): item #{index}: {_describe(exc)}") from exc
    return result


# --------------------------------------------------------------------------- helpers: rendering


def _wire_scalar(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value


def _wire_dict(model: BaseModel) -> dict[str, Any]:
    """A model as spec-ordered JSON-ready values (extras last)."""
    result: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(model, ServiceRequest) and name == "extended_attributes" and value is None:
            continue  # only asked for (extensions=true): a plain GeoReport v2 request has no such member
        if isinstance(model, Service) and name == "keywords":
            value = ", ".join(value)
        result[name] = _wire_value(value)
    for name, value in (model.model_extra or {}).items():
        result[name] = _wire_value(value)
    return result


def _wire_value(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _wire_dict(value)
    if isinstance(value, list | tuple):
        return [_wire_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _wire_value(v) for k, v in value.items()}
    return _wire_scalar(value)


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _append(parent: etree._Element, name: str, value: Any) -> None:
    if isinstance(value, list):
        if name in _LIST_ITEMS:
            wrapper = etree.SubElement(parent, name)
            for item in value:
                _append(wrapper, _LIST_ITEMS[name], item)
        else:  # unknown repeated field kept from another server: repeat the element
            for item in value:
                _append(parent, name, item)
        return
    element = etree.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            _append(element, key, item)
    elif value is not None:
        element.text = _xml_text(value)


def _render(
    items: Iterable[BaseModel], model: type[BaseModel], root: str, item: str | None, fmt: str, what: str
) -> bytes:
    _check_fmt(fmt)
    dicts = []
    for index, entry in enumerate(items, start=1):
        if not isinstance(entry, model):
            raise TypeError(f"{what}: item #{index} is {type(entry).__name__}, expected {model.__name__}")
        dicts.append(_wire_dict(entry))
    if fmt == "json":
        payload: Any = dicts if item is not None else dicts[0]
        try:
            # allow_nan=False: NaN/Infinity (in fields kept from another server) are not JSON.
            return json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (ValueError, UnicodeEncodeError) as exc:
            raise Open311FormatError(f"{what} (json): cannot be represented in JSON: {exc}") from exc
    try:
        if item is None:
            element = etree.Element(root)
            for key, value in dicts[0].items():
                _append(element, key, value)
        else:
            element = etree.Element(root)
            for entry_dict in dicts:
                _append(element, item, entry_dict)
    except ValueError as exc:  # lxml: control characters, invalid element names
        raise Open311FormatError(f"{what} (xml): cannot be represented in XML 1.0: {exc}") from exc
    return _XML_DECLARATION + etree.tostring(element, encoding="UTF-8", pretty_print=True)


# --------------------------------------------------------------------------- public: parsing


def parse_services(body: bytes, fmt: Format) -> list[Service]:
    """Parse a service list (Open311 GeoReport v2, GET Service List).

    Shapes: XML ``<services><service>...</service></services>`` (namespace declarations and
    attributes such as ``is_array="true"`` are ignored); JSON ``[{...}, ...]``. A ``str`` body is
    encoded as UTF-8 first.

    Raises:
        Open311FormatError: malformed body, wrong root, or an invalid service (says which and why).
        ValueError: ``fmt`` is neither ``"xml"`` nor ``"json"``.
    """
    _check_fmt(fmt)
    what = "services"
    data = _as_bytes(body, what)
    if fmt == "xml":
        items: list[Any] = _xml_items(data, "services", "service", what)
    else:
        items = _json_items(data, "services", what)
    return _validate_all(Service, items, what, fmt)


def parse_service_definition(body: bytes, fmt: Format) -> ServiceDefinition:
    """Parse one service definition (Open311 GeoReport v2, GET Service Definition).

    XML: ``<service_definition><service_code/><attributes><attribute>...`` per the spec; the
    unwrapped form (``<attribute>`` directly under the root, as some servers send) is accepted
    too. Each list attribute carries ``<values><value><key/><name/></value>...</values>``.
    JSON: ``{"service_code": ..., "attributes": [{..., "values": [{"key", "name"}]}]}``.

    Raises:
        Open311FormatError: malformed body or invalid definition.
        ValueError: unknown ``fmt``.
    """
    _check_fmt(fmt)
    what = "service_definition"
    data = _as_bytes(body, what)
    if fmt == "xml":
        root = _parse_xml(data, what)
        if _local(root) != what:
            raise Open311FormatError(f"{what} (xml): expected root <{what}>, got <{_local(root)}>")
        item = _xml_dict(root, what)
        loose = item.pop("attribute", None)
        if loose is not None:
            wrapped = item.get("attributes") or []
            item["attributes"] = [*wrapped, *(loose if isinstance(loose, list) else [loose])]
    else:
        item = _json_load(data, what)
        if not isinstance(item, dict):
            raise Open311FormatError(f"{what} (json): expected an object, got {type(item).__name__}")
    return _validate_all(ServiceDefinition, [item], what, fmt)[0]


def parse_requests(body: bytes, fmt: Format, *, assume_tz: tzinfo | None = None) -> list[ServiceRequest]:
    """Parse a list of service requests (Open311 GeoReport v2, GET Service Requests / Request).

    Shapes: XML ``<service_requests><request>...</request></service_requests>``; JSON array.
    Datetimes come back aware in UTC. A datetime without offset is an error unless
    ``assume_tz`` (e.g. ``ZoneInfo("America/Toronto")``) says which zone the server meant.
    Unknown fields are kept in each model's ``model_extra``.

    Raises:
        Open311FormatError: malformed body, or which request and field is invalid.
        ValueError: unknown ``fmt``.
    """
    _check_fmt(fmt)
    what = "service_requests"
    data = _as_bytes(body, what)
    if fmt == "xml":
        items: list[Any] = _xml_items(data, "service_requests", "request", what)
    else:
        items = _json_items(data, "service_requests", what)
    context = {ASSUME_TZ_CONTEXT_KEY: assume_tz} if assume_tz is not None else None
    return _validate_all(ServiceRequest, items, what, fmt, context)


def parse_post_response(body: bytes, fmt: Format) -> list[PostServiceRequestResponse]:
    """Parse the response to ``POST requests`` (Open311 GeoReport v2, POST Service Request).

    Shape: ``<service_requests><request>`` with ``service_request_id`` or ``token``,
    ``service_notice``, ``account_id`` (``<account_id/>`` is ``None``); JSON array.

    Raises:
        Open311FormatError: malformed body, or an item with neither id nor token.
        ValueError: unknown ``fmt``.
    """
    _check_fmt(fmt)
    what = "post_response"
    data = _as_bytes(body, what)
    if fmt == "xml":
        items: list[Any] = _xml_items(data, "service_requests", "request", what)
    else:
        items = _json_items(data, "service_requests", what)
    return _validate_all(PostServiceRequestResponse, items, what, fmt)


def _split_http_status(body: bytes) -> tuple[int | None, bytes]:
    """Remove a leading ``HTTP/1.1 403 Forbidden`` line and any header lines up to the blank line."""
    match = _HTTP_STATUS_LINE.match(body)
    if match is None:
        return None, body
    # Header lines (if any) run until the first blank line. Walk by offset: slicing the rest at every
    # line would copy the body once per header line (quadratic on a body with many of them).
    start = match.end()
    while start < len(body):
        end = body.find(b"\n", start)
        end = len(body) if end < 0 else end
        line = body[start:end]
        if not line.strip():
            start = end + 1
            break
        if not _HEADER_LINE.match(line):
            break  # no blank line: the body starts right after the status line
        start = end + 1
    return int(match.group(1)), body[start:]


def parse_errors(body: bytes, fmt: Format, *, status_code: int | None = None) -> list[Open311Error]:
    """Parse a GeoReport v2 error body into ``Open311Error`` items.

    Shapes: XML ``<errors><error><code/><description/></error>...</errors>``; JSON
    ``[{"code", "description"}]`` (or ``{"errors": [...]}``). Tolerated: a bare ``<error>text
    </error>`` root, and a body that still starts with its HTTP status line (and headers), as
    captured by some clients (``HTTP/1.1 403 Forbidden`` then the XML). An error without its own
    ``code`` takes the HTTP status: from that line, else from ``status_code``.

    Raises:
        Open311FormatError: malformed body, or an error with no code and no status to fall back on.
        ValueError: unknown ``fmt``.
    """
    _check_fmt(fmt)
    what = "errors"
    data = _as_bytes(body, what).removeprefix(b"\xef\xbb\xbf").lstrip()
    line_status, data = _split_http_status(data)
    fallback = line_status if line_status is not None else status_code
    items: list[Any]
    if fmt == "xml":
        root = _parse_xml(data, what)
        name = _local(root)
        if name == "errors":
            elements = _children(root)
        elif name == "error":
            elements = [root]
        else:
            raise Open311FormatError(f"{what} (xml): expected root <errors> or <error>, got <{name}>")
        items = []
        for element in elements:
            if _local(element) != "error":
                raise Open311FormatError(f"{what} (xml): unexpected <{_local(element)}> inside <errors>")
            items.append(_xml_dict(element, what) if _children(element) else {"description": element.text})
    else:
        loaded = _json_load(data, what)
        if isinstance(loaded, dict) and "errors" in loaded:
            loaded = loaded["errors"]
        items = loaded if isinstance(loaded, list) else [loaded]
        if not all(isinstance(item, dict) for item in items):
            raise Open311FormatError(f"{what} (json): expected error objects")
    for index, item in enumerate(items, start=1):
        if item.get("code") in (None, ""):
            if fallback is None:
                raise Open311FormatError(
                    f"{what} ({fmt}): item #{index} has no code and no HTTP status to fall back on"
                )
            item["code"] = fallback
    return _validate_all(Open311Error, items, what, fmt)


# --------------------------------------------------------------------------- public: rendering


def render_services(items: Iterable[Service], fmt: Format) -> bytes:
    """Render ``GET services`` (Open311 GeoReport v2, GET Service List) as UTF-8 bytes.

    XML ``<services><service>`` with every spec field (``None`` as an empty element, booleans
    as ``true``/``false``, keywords comma-separated); JSON array with ``null`` for ``None``.

    Raises:
        Open311FormatError: text that XML 1.0 cannot carry (e.g. control characters).
        TypeError: an item is not a ``Service``.
        ValueError: unknown ``fmt``.
    """
    return _render(items, Service, "services", "service", fmt, "services")


def render_service_definition(definition: ServiceDefinition, fmt: Format) -> bytes:
    """Render one service definition (Open311 GeoReport v2, GET Service Definition).

    XML nests ``<attributes><attribute>`` and ``<values><value><key/><name/>`` as the spec does.

    Raises:
        Open311FormatError: text that XML 1.0 cannot carry.
        TypeError: not a ``ServiceDefinition``.
        ValueError: unknown ``fmt``.
    """
    return _render([definition], ServiceDefinition, "service_definition", None, fmt, "service_definition")


def render_requests(items: Iterable[ServiceRequest], fmt: Format) -> bytes:
    """Render ``GET requests`` (Open311 GeoReport v2, GET Service Requests) as UTF-8 bytes.

    Datetimes are ISO 8601 in UTC with a ``Z`` suffix; ``lat``/``long`` in shortest round-trip
    decimal form; ``None`` as an empty element (XML) or ``null`` (JSON).

    Raises:
        Open311FormatError: text that XML 1.0 cannot carry.
        TypeError: an item is not a ``ServiceRequest``.
        ValueError: unknown ``fmt``.
    """
    return _render(items, ServiceRequest, "service_requests", "request", fmt, "service_requests")


def render_post_response(items: Iterable[PostServiceRequestResponse], fmt: Format) -> bytes:
    """Render the ``POST requests`` response (Open311 GeoReport v2, POST Service Request).

    Raises:
        Open311FormatError: text that XML 1.0 cannot carry.
        TypeError: an item is not a ``PostServiceRequestResponse``.
        ValueError: unknown ``fmt``.
    """
    return _render(items, PostServiceRequestResponse, "service_requests", "request", fmt, "post_response")


def render_errors(items: Iterable[Open311Error], fmt: Format) -> bytes:
    """Render an error body ``<errors><error><code/><description/>`` (Open311 GeoReport v2, Errors).

    An error often quotes what the sender sent, so it always renders: each character of a description that
    XML 1.0 cannot carry (C0 controls but tab, CR and LF; surrogates; U+FFFE, U+FFFF) becomes U+FFFD, in
    both formats alike.

    Raises:
        TypeError: an item is not an ``Open311Error``.
        ValueError: unknown ``fmt``.
    """
    return _render([_carried(e) for e in items], Open311Error, "errors", "error", fmt, "errors")


def _carried(error: Open311Error) -> Open311Error:
    """`error` with its description's characters outside XML 1.0's Char production replaced by U+FFFD."""
    if not isinstance(error, Open311Error) or not _NOT_XML_CHAR.search(error.description):
        return error
    return error.model_copy(update={"description": _NOT_XML_CHAR.sub("\ufffd", error.description)})



def render_discovery(discovery: Discovery, fmt: Format) -> bytes:
    """Render the discovery document (Open311 GeoReport v2, Service Discovery): XML ``<discovery>`` with
    ``<endpoints><endpoint>`` and ``<formats><format>``; JSON one object.

    Raises:
        Open311FormatError: text that XML 1.0 cannot carry.
        TypeError: not a ``Discovery``.
        ValueError: unknown ``fmt``.
    """
    return _render([discovery], Discovery, "discovery", None, fmt, "discovery")


def parse_discovery(body: bytes, fmt: Format) -> Discovery:
    """Parse a discovery document (Open311 GeoReport v2, Service Discovery), XML or JSON.

    Raises:
        Open311FormatError: malformed body, wrong root or an invalid document.
        ValueError: unknown ``fmt``.
    """
    _check_fmt(fmt)
    what = "discovery"
    data = _as_bytes(body, what)
    if fmt == "xml":
        root = _parse_xml(data, what)
        if _local(root) != what:
            raise Open311FormatError(f"{what} (xml): expected root <{what}>, got <{_local(root)}>")
        item: Any = _xml_dict(root, what)
    else:
        item = _json_load(data, what)
        if not isinstance(item, dict):
            raise Open311FormatError(f"{what} (json): expected an object, got {type(item).__name__}")
    return _validate_all(Discovery, [item], what, fmt)[0]
