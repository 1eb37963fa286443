"""What both of intake_web's routers share: the handlers' dependencies from the app, and Open311
GeoReport v2 bodies and error lists (JSON or XML) with their status and media type."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Response
from pydantic import BaseModel, ConfigDict

from services.intake_web.domain.limits import Problem, Refused
from services.intake_web.service_layer.deps import Deps
from shared.open311 import Open311Error, render_errors

Fmt = Literal["json", "xml"]
MEDIA = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
STATUS_OF = {Problem.INVALID: 400, Problem.FORBIDDEN: 403, Problem.NOT_OFFERED: 404}
"""The HTTP status that answers each kind of `Refused` request."""
RETRY_AFTER_S = 5
"""What a client is told to wait (seconds, `Retry-After`) when the case service does not answer."""


def deps(request: Request) -> Deps:
    """The `Deps` `app.create_app` put on the app's state."""
    return request.app.state.deps  # type: ignore[no-any-return]


AppDeps = Annotated[Deps, Depends(deps)]


def body(content: bytes, fmt: str, status: int = 200) -> Response:
    """An Open311 body already rendered in `fmt` (``json`` or ``xml``)."""
    return Response(content=content, status_code=status, media_type=MEDIA[fmt])


def error(fmt: str, status: int, *descriptions: str) -> Response:
    """Open311 GeoReport v2 error list: one ``<error>`` with code `status` per description."""
    return body(render_errors([Open311Error(code=status, description=d) for d in descriptions], fmt), fmt, status)


def refused(fmt: str, exc: Refused) -> Response:
    """The error list of a `Refused` request, with the status of its problem kind (`STATUS_OF`)."""
    return error(fmt, STATUS_OF[exc.problem], *exc.descriptions)


def retry_later(fmt: str, description: str = "case lookups are unavailable for a moment; please retry") -> Response:
    """503 with ``Retry-After``: a service behind us (the case service, Kafka) did not answer; the client may
    send the same request again shortly."""
    response = error(fmt, 503, description)
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def fmt_of(request: Request) -> Fmt:
    """The format a request asked for by its path (``….xml``), JSON otherwise."""
    return "xml" if request.url.path.endswith(".xml") else "json"


def _xml(root: str, item: str | None) -> dict[str, Any]:
    inside = f"`<{item}>` elements" if item else "the fields as elements"
    return {"schema": {"type": "string", "description": f"GeoReport v2 XML: `<{root}>` holding {inside}"}}


def open311_responses(json_model: Any, root: str, item: str | None, what: str,
                      errors: tuple[int, ...] = (400,)) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of an Open311 route whose answer is `what` (Open311 GeoReport v2): 200 as JSON
    (`json_model`'s schema) at ``.json`` or as XML (``<root>``, each entry an ``<item>``; `item` None: one
    object) at ``.xml``, as `MEDIA` says; each status of `errors` as the Open311 error list (``<errors>``).
    The routes return their rendered body themselves: this only documents it."""
    out: dict[int | str, dict[str, Any]] = {
        200: {"model": json_model, "description": f"{what}: JSON at `.json`, XML at `.xml`",
              "content": {"text/xml": _xml(root, item)}},
    }
    for status in errors:
        out[status] = {"model": list[Open311Error], "description": "Open311 error list (`code`, `description`)",
                       "content": {"text/xml": _xml("errors", "error")}}
    return out


class AgentRequestAccepted(BaseModel):
    """``POST /agent/requests`` (202): the phone request's token, the client's `request_id`, the agent (the
    token's ``sub``) and the channel."""

    token: str
    request_id: str | None
    agent_id: str
    channel: Literal["phone"]


class AgentToken(BaseModel):
    """``GET /agent/tokens/{token}``: the case number of a phone token once the case is open, else null."""

    token: str
    service_request_id: str | None


class CallerCases(BaseModel):
    """``POST /agent/callers``: the caller's earlier cases (as the case service sent them, Open311 fields),
    or ``available`` false with a `message` when the case service cannot tell."""

    phone: str | None
    available: bool
    message: str | None = None
    requests: list[dict[str, Any]]


class Refusal(BaseModel):
    """One row of the refusal log: a minute, a client, an API key's fingerprint (or null), a route, why, how
    many times, the last time."""

    model_config = ConfigDict(extra="allow")

    minute: str
    client: str | None
    api_key: str | None
    route: str
    reason: str
    count: int
    last_at: str


class Refusals(BaseModel):
    """``GET /staff/refusals``: the refusals since `since` (ISO 8601), newest minute first."""

    since: str
    refusals: list[Refusal]
    truncated: bool


def documented(model: Any, what: str, status: int = 200) -> dict[str, Any]:
    """Route arguments documenting the `status` answer as `model` (JSON) for a route that renders its own
    `Response`: the model documents, it never filters."""
    return {"status_code": status, "response_model": None,
            "responses": {status: {"model": model, "description": what}}}
