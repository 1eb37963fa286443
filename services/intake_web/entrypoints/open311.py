"""The Open311 GeoReport v2 routes of intake_web (`fmt` is ``json`` or ``xml``): `GET /discovery.{fmt}`,
`GET /services.{fmt}`, `GET /services/{service_code}.{fmt}` (with its attributes), `POST /requests.{fmt}`
(publishes `intake.message_received`), `GET /tokens/{token}.{fmt}`, `GET /requests/{service_request_id}.{fmt}`,
`GET /requests.{fmt}` (read from the case API; the omni311 spatial filters `bbox` and `lat`/`long`/`radius`;
`extensions=true` on both reads adds the routing facts, `extended_attributes`).
Every route takes an optional `jurisdiction_id` (query, or form field on POST): another
jurisdiction's is a 404 ``jurisdiction_id X not found``. Errors are Open311 error lists; a refusal's status
follows its problem kind (`http.STATUS_OF`); a case API that does not answer is a 503 with ``Retry-After``,
one that refuses the question (a 4xx) a 400."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exception_handlers import http_exception_handler
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.intake_web.domain.limits import Refused, check_jurisdiction, echo, field_values
from shared.media.photos import NotAnImage
from services.intake_web.domain.portal import PORTAL_TOKEN_PREFIX
from services.intake_web.entrypoints.http import (AppDeps, Fmt, body, deps, error, fmt_of, open311_responses,
                                                  refused, retry_later)
from services.intake_web.service_layer import intake, portal, reads
from services.intake_web.service_layer.intake import PublishFailed
from shared.abuse import refusal_response
from shared.intake import CaseApiRefused, CaseApiUnavailable, could_name_a_case
from shared.open311 import (
    Discovery,
    Open311FormatError,
    PostServiceRequestResponse,
    Service,
    ServiceDefinition,
    ServiceRequest,
    render_discovery,
    render_post_response,
    render_requests,
    render_service_definition,
    render_services,
)



def jurisdiction_checked(request: Request) -> None:
    """A route dependency: the query's `jurisdiction_id`, when given, is ours (Open311 GeoReport v2: 404
    "jurisdiction_id not found" on every method). Raises `Refused`, answered by `refused_anywhere`."""
    check_jurisdiction(field_values(request.query_params, "jurisdiction_id"), deps(request).jurisdiction.id)


router = APIRouter(dependencies=[Depends(jurisdiction_checked)])


@router.get("/discovery.{fmt}", responses=open311_responses(Discovery, "discovery", None, "the discovery document"))
async def get_discovery(fmt: Fmt, d: AppDeps) -> Response:
    """Open311 GeoReport v2 Service Discovery: this API's one endpoint (GeoReport v2, production, XML and
    JSON) at ``OMNI311_PUBLIC_BASE_URL``, never at the request's Host header, which any client sets."""
    return body(render_discovery(reads.discovery(d, base_url=d.site.settings.public_base_url), fmt), fmt)


@router.get("/services.{fmt}", responses=open311_responses(list[Service], "services", "service", "the service list"))
async def get_services(fmt: Fmt, d: AppDeps) -> Response:
    """Open311 GeoReport v2, GET Service List: the jurisdiction's services."""
    return body(render_services(d.services, fmt), fmt)


@router.get("/services/{service_code}.{fmt}", responses=open311_responses(
    ServiceDefinition, "service_definition", None, "the service definition", errors=(400, 404)))
async def get_service_definition(service_code: str, fmt: Fmt, d: AppDeps) -> Response:
    """Open311 GeoReport v2, GET Service Definition; 404 for a code this jurisdiction does not offer."""
    try:
        definition = reads.service_definition(d, service_code)
    except Refused as exc:
        return refused(fmt, exc)
    return body(render_service_definition(definition, fmt), fmt)


@router.post("/requests.{fmt}", responses=open311_responses(
    list[PostServiceRequestResponse], "service_requests", "request", "the token (or the service_request_id)",
    errors=(400, 403, 404, 413, 415, 503)))
async def post_request(fmt: Fmt, request: Request, d: AppDeps) -> Response:
    """Open311 GeoReport v2, POST Service Request (form fields, `api_key` required: 403 otherwise; 400 for
    a form it refuses); answers with the token once Kafka has the event. Honours an `Idempotency-Key`
    header (a retry gets the same token) and `Content-Language`. A multipart `media` file is kept as the
    portal keeps a photo and becomes the request's `media_url` (413 over the upload limit, 415 for what
    is not an image)."""
    form = await request.form()
    upload = form.get("media")
    media = await upload.read() if upload is not None and not isinstance(upload, str) else None
    fields = FormData([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
    try:
        accepted = await intake.submit_post(d, fields, services_url=f"/services.{fmt}",
                                            idempotency_key=request.headers.get("idempotency-key"),
                                            language=request.headers.get("content-language"),
                                            media=media or None, store_media=portal.store_photo)
    except Refused as exc:
        return refused(fmt, exc)
    except portal.UploadTooLarge as exc:
        return error(fmt, 413, f"media: {exc}")
    except NotAnImage as exc:
        return error(fmt, 415, f"media: {exc}")
    return body(render_post_response([PostServiceRequestResponse(token=accepted.token)], fmt), fmt)


@router.get("/tokens/{token}.{fmt}", responses=open311_responses(
    list[PostServiceRequestResponse], "service_requests", "request", "the token and its service_request_id",
    errors=(404, 503)))
async def get_token(token: str, fmt: Fmt, d: AppDeps) -> Response:
    """Open311 GeoReport v2, GET request_id from a token: the token and its `service_request_id` once the
    case is open (none before); a portal report's token (``web-…``, `domain.portal.portal_token`) too. A
    token that cannot be one (`shared.intake.could_name_a_case`: control characters, invalid UTF-8, over
    256 characters, ``..``) is a 404 ``token … not found``, the case service unasked. A token the case API's
    path cannot carry otherwise (`CaseApiNoRoute`) is a 500."""
    if not could_name_a_case(token):
        return error(fmt, 404, f"token {echo(token)} not found")
    sid = await d.case_api.case_of_token(token, "web" if token.startswith(PORTAL_TOKEN_PREFIX) else "open311")
    return body(render_post_response([PostServiceRequestResponse(token=token, service_request_id=sid)], fmt), fmt)


@router.get("/requests/{service_request_id}.{fmt}", responses=open311_responses(
    list[ServiceRequest], "service_requests", "request", "the one request", errors=(400, 404, 503)))
async def get_request(service_request_id: str, fmt: Fmt, d: AppDeps, extensions: str | None = None) -> Response:
    """Open311 GeoReport v2, GET Service Request: one request; 404 when there is none (also for an id that
    cannot be one, `shared.intake.could_name_a_case`; the id quoted by `limits.echo`). With
    ``extensions=true`` (as Chicago's Open311 server) it carries its routing facts under
    `extended_attributes` (docs/judgement.md); 400 for an `extensions` that is not true or false."""
    try:
        wanted = reads.wants_extensions(extensions)
    except Refused as exc:
        return refused(fmt, exc)
    found = await d.case_api.request(service_request_id, extensions=wanted)
    if found is None:
        return error(fmt, 404, f"service_request_id {echo(service_request_id)} not found")
    return body(render_requests([found], fmt), fmt)


@router.get("/requests.{fmt}", responses=open311_responses(
    list[ServiceRequest], "service_requests", "request", "the requests found", errors=(400, 503)))
async def get_requests(
    fmt: Fmt,
    d: AppDeps,
    service_request_id: str | None = None,
    service_code: str | None = None,
    status: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    bbox: str | None = None,
    lat: str | None = None,
    long: str | None = None,
    radius: str | None = None,
    extensions: str | None = None,
) -> Response:
    """Open311 GeoReport v2, GET Service Requests: filters as the spec names them; `start_date`/`end_date`
    ISO 8601 with offset, at most 90 days apart (400 otherwise). omni311 extensions: `bbox` =
    ``west,south,east,north`` (WGS84 degrees) and `lat`, `long`, `radius` (metres, 1–50 000, all three):
    only the requests whose point is inside; a malformed one is a 400 naming it. ``extensions=true``: each
    request with its routing facts under `extended_attributes` (docs/judgement.md)."""
    try:
        found = await reads.find_requests(d, service_request_id=service_request_id, service_code=service_code,
                                          status=status, start_date=start_date, end_date=end_date, bbox=bbox,
                                          lat=lat, long=long, radius=radius, extensions=extensions)
    except Refused as exc:
        return refused(fmt, exc)
    return body(render_requests(found, fmt), fmt)


async def unrenderable(request: Request, exc: Exception) -> Response:
    """A request whose text XML 1.0 cannot carry: 500, and staff see it in the log."""
    deps(request).log.error("open311_render_failed", error=str(exc)[:300])
    return error(fmt_of(request), 500, "this request cannot be shown in Open311 format; staff have been alerted")


async def case_api_down(request: Request, exc: Exception) -> Response:
    """The case service did not answer a read: 503, retry in a few seconds."""
    deps(request).log.warning("case_api_unreachable", error=str(exc)[:300])
    return retry_later(fmt_of(request))


async def case_api_refused(request: Request, exc: Exception) -> Response:
    """The case service is up and refused what a read asked of it (a 4xx, e.g. a 422 for a filter it will
    not take): 400, the question is at fault, so nobody retries it and monitoring does not count it as the
    case service down (logged ``case_api_refused``, never ``case_api_unreachable``). An Open311 error list
    on ``*.json``/``*.xml`` paths, else JSON or a page (`shared.abuse.refusal_response`)."""
    assert isinstance(exc, CaseApiRefused)
    deps(request).log.info("case_api_refused", status=exc.status)
    abuse = getattr(request.app.state, "abuse", None)
    return refusal_response(request, 400, "the case service cannot answer this query; check its parameters",
                            "le service des demandes ne peut pas répondre à cette recherche ; vérifiez-la",
                            abuse.page if abuse is not None else None)


async def publish_failed(request: Request, exc: Exception) -> Response:
    """Kafka did not take a report (`PublishFailed`): nothing was accepted; 503 with ``Retry-After``, and
    the same request sent again (the same ``Idempotency-Key``) is the same event."""
    return retry_later(fmt_of(request), "the report could not be accepted just now (nothing was kept); "
                                        "please send it again in a few seconds")


async def no_such_route(request: Request, exc: Exception) -> Response:
    """An HTTP error no route answered itself (404: a path no route matches, e.g. an id holding ``%2F``,
    which the server decodes into a second segment; 405): on a ``*.json`` or ``*.xml`` path an Open311 error
    list in that format, as every Open311 answer is; elsewhere FastAPI's JSON ``{"detail"}``."""
    assert isinstance(exc, StarletteHTTPException)
    if not request.url.path.endswith((".json", ".xml")):
        return await http_exception_handler(request, exc)
    detail = exc.detail if isinstance(exc.detail, str) else "the request cannot be answered"
    response = error(fmt_of(request), exc.status_code, detail)
    response.headers.update(exc.headers or {})
    return response


async def refused_anywhere(request: Request, exc: Exception) -> Response:
    """A `Refused` no route caught (a route dependency's, e.g. another `jurisdiction_id`): its error list
    with the status of its problem kind, in the format the path asked for."""
    assert isinstance(exc, Refused)
    return refused(fmt_of(request), exc)


EXCEPTION_HANDLERS = {Open311FormatError: unrenderable, CaseApiUnavailable: case_api_down,
                      CaseApiRefused: case_api_refused, Refused: refused_anywhere, PublishFailed: publish_failed,
                      StarletteHTTPException: no_such_route}
"""Exception → handler, for `app.add_exception_handler`."""
