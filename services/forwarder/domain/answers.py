"""What an Open311 endpoint's answer means (docs/integrations.md, "Open311 forwarding", steps 2 to 5): an
accepted send (an id, or only a token), a failure worth another try (no answer, a 5xx, a 429, a GeoReport
error body, a body we cannot read) or a refusal (any other 4xx). Bodies are read with `shared.open311`'s
wire parsers (JSON, and XML through lxml with no DTD, no entity expansion and no network: the body is
untrusted); nothing here raises on a bad body, it becomes the failure's reason."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote, quote_plus

from lxml import etree

from shared.open311 import Open311FormatError, ServiceRequest
from shared.open311.wire import Format, parse_errors, parse_post_response, parse_requests

from services.forwarder.domain.forwards import has_control, short_error

RETRY_STATUSES = frozenset({408, 425, 429})
"""4xx answers that mean "not now": retried like a 5xx."""

MAX_ID_CHARS = 200
"""The longest external id or token kept (`forwarding.case_forwarded`'s limit); a longer one is refused."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as the client got it: `status` (None when none came: `error` says why) and `body`."""

    status: int | None
    body: bytes = b""
    error: str | None = None


@dataclass(frozen=True)
class Accepted:
    """The endpoint took the request: its `service_request_id`, or only a `token` to resolve later."""

    service_request_id: str | None
    token: str | None
    service_notice: str | None = None


@dataclass(frozen=True)
class Failed:
    """The exchange failed: `error` (one line, no key, no URL query) and whether a later try may do better."""

    error: str
    retry: bool


def without_secret(failed: Failed, secret: str | None) -> Failed:
    """`failed` with every occurrence of `secret` (as sent, and URL-encoded) replaced by ``[api_key]``: an
    endpoint may quote the key it refused in its error list, and the reason goes on events, rows and logs."""
    if not secret:
        return failed
    error = failed.error
    for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
        error = error.replace(form, "[api_key]")
    return failed if error == failed.error else replace(failed, error=error)


def _errors_text(body: bytes, fmt: Format, status: int | None) -> str | None:
    """The GeoReport error list in `body` as ``code: description; …``, or None when it holds none. A body
    captured with its status line (``HTTP/1.1 403 Forbidden`` before the XML) is read too."""
    for each in (fmt, "xml" if fmt == "json" else "json"):
        try:
            errors = parse_errors(body, each, status_code=status)
        except (Open311FormatError, ValueError):
            continue
        if errors:
            return "; ".join(f"{e.code}: {e.description}" for e in errors)
    return None


def _failure(answer: Answer, fmt: Format, what: str) -> Failed:
    """A non-2xx answer (or none) as a failure: retried unless a 4xx other than `RETRY_STATUSES`."""
    if answer.status is None:
        return Failed(short_error(f"{what}: no answer ({answer.error or 'connection failed'})"), retry=True)
    detail = _errors_text(answer.body, fmt, answer.status)
    text = f"{what}: HTTP {answer.status} from the endpoint" + (f" ({detail})" if detail else "")
    retry = not (400 <= answer.status < 500) or answer.status in RETRY_STATUSES
    return Failed(short_error(text), retry=retry)


def read_post_answer(answer: Answer, fmt: Format) -> Accepted | Failed:
    """The answer to ``POST requests`` (Open311 GeoReport v2, POST Service Request): `Accepted` with the
    first item's id or token (and notice); a 2xx holding an error list or a body we cannot read is a
    failure to retry; non-2xx as `_failure`; an id or token longer than `MAX_ID_CHARS` or with a control
    character (`has_control`: a NUL is refused by PostgreSQL) is a refusal."""
    if answer.status is None or not 200 <= answer.status < 300:
        return _failure(answer, fmt, "send")
    try:
        items = parse_post_response(answer.body, fmt)
    except (Open311FormatError, ValueError) as exc:
        detail = _errors_text(answer.body, fmt, answer.status)
        reason = f"the endpoint answered errors ({detail})" if detail else f"unreadable answer: {exc}"
        return Failed(short_error(f"send: {reason}"), retry=True)
    if not items:
        return Failed("send: the endpoint answered an empty list", retry=True)
    first = items[0]
    if len(first.service_request_id or "") > MAX_ID_CHARS or len(first.token or "") > MAX_ID_CHARS:
        return Failed(f"send: the endpoint answered an id or token longer than {MAX_ID_CHARS} characters",
                      retry=False)
    if has_control(first.service_request_id) or has_control(first.token):
        return Failed("send: the endpoint answered an id or token with control characters", retry=False)
    return Accepted(first.service_request_id, first.token, first.service_notice)


def read_token_answer(answer: Answer, fmt: Format) -> str | Failed | None:
    """The answer to ``GET tokens/{token}`` (Open311 GeoReport v2, GET request_id from a token): the
    `service_request_id` once there is one, None while there is none yet (also a 404: not yet known), or a
    failure."""
    if answer.status == 404:
        return None
    if answer.status is None or not 200 <= answer.status < 300:
        return _failure(answer, fmt, "token")
    try:
        items = parse_post_response(answer.body, fmt)
    except (Open311FormatError, ValueError) as exc:
        if "neither id nor token" in str(exc) or "needs a service_request_id or a token" in str(exc):
            return None
        return Failed(short_error(f"token: unreadable answer: {exc}"), retry=True)
    found = next((i.service_request_id for i in items if i.service_request_id), None)
    if found is not None and len(found) > MAX_ID_CHARS:
        return Failed(f"token: the endpoint answered an id longer than {MAX_ID_CHARS} characters", retry=True)
    if has_control(found):
        return Failed("token: the endpoint answered an id with control characters", retry=True)
    return found


def read_requests_answer(answer: Answer, fmt: Format) -> list[ServiceRequest] | Failed:
    """The answer to ``GET requests?service_request_id=…`` (Open311 GeoReport v2, GET Service Requests):
    the requests (an empty list when none is known), or a failure (no answer, non-2xx, an error list or an
    unreadable body)."""
    if answer.status is None or not 200 <= answer.status < 300:
        return _failure(answer, fmt, "poll")
    try:
        return parse_requests(answer.body, fmt)
    except (Open311FormatError, ValueError) as exc:
        detail = _errors_text(answer.body, fmt, answer.status)
        reason = f"the endpoint answered errors ({detail})" if detail else f"unreadable answer: {exc}"
        return Failed(short_error(f"poll: {reason}"), retry=True)


def read_requests_by_item(answer: Answer, fmt: Format) -> tuple[list[ServiceRequest], dict[str, str]] | Failed:
    """`read_requests_answer`, item by item when only some items are wrong (a status other than ``open`` or
    ``closed``, a date without an offset...): (the requests read, {external id: why its item could not be
    read}). One wrong item would otherwise fail the poll of every forward in the same call (up to 50 cases,
    on every poll). A body that is not a list of requests at all is still a `Failed`."""
    whole = read_requests_answer(answer, fmt)
    if not isinstance(whole, Failed):
        return whole, {}
    if "item #" not in whole.error:
        return whole
    try:
        items = _json_request_items(answer.body) if fmt == "json" else _xml_request_items(answer.body)
    except (ValueError, etree.XMLSyntaxError):
        return whole
    read: list[ServiceRequest] = []
    unreadable: dict[str, str] = {}
    for external_id, single in items:
        try:
            read += parse_requests(single, fmt)
        except (Open311FormatError, ValueError) as exc:
            if external_id:
                unreadable[external_id] = short_error(f"poll: unreadable request {external_id[:MAX_ID_CHARS]}: {exc}")
    return read, unreadable


def _json_request_items(body: bytes) -> list[tuple[str | None, bytes]]:
    data: Any = json.loads(body)
    if isinstance(data, dict):
        data = data.get("service_requests")
    if not isinstance(data, list):
        raise ValueError("not a list of requests")
    out = []
    for item in data:
        external_id = item.get("service_request_id") if isinstance(item, dict) else None
        out.append((None if external_id is None else str(external_id), json.dumps([item]).encode()))
    return out


def _xml_request_items(body: bytes) -> list[tuple[str | None, bytes]]:
    # Reached only after the wire parser read the document (no DTD, no entity): parsed again as safely.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True, remove_pis=True)
    root = etree.fromstring(body, parser=parser)
    out = []
    for element in root:
        if not isinstance(element.tag, str) or etree.QName(element).localname != "request":
            continue
        found = next((c.text for c in element if isinstance(c.tag, str)
                      and etree.QName(c).localname == "service_request_id"), None)
        out.append((found.strip() if found else None,
                    b"<service_requests>" + etree.tostring(element) + b"</service_requests>"))
    return out
