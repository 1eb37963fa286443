"""What both of intake_web's routers share: the handlers' dependencies from the app, and Open311
GeoReport v2 bodies and error lists (JSON or XML) with their status and media type."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Request, Response

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
