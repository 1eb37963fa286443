"""intake_web entry point: the Open311 GeoReport v2 API.

Produces `intake.message_received` on `intake.messages` (published with acks=all before the POST
answers); owns nothing durable: reads go to the case service's API.
Endpoints (Open311 GeoReport v2): `GET /services.{fmt}`, `GET /services/{service_code}.{fmt}`,
`POST /requests.{fmt}`, `GET /tokens/{token}.{fmt}`, `GET /requests/{service_request_id}.{fmt}`,
`GET /requests.{fmt}`; `fmt` is `json` or `xml`. The call-agent console (`/agent`, channel ``phone``)
is in `console.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from services.intake_web.config import AgentSettings
from services.intake_web.console import CaseLookups, HttpCaseLookups, add_console
from services.intake_web.domain.agent import AgentDirectory
from services.intake_web.domain.intake import (
    MAX_QUERY_SPAN,
    client_id_for,
    form_digest,
    event_id_for,
    message_from_post,
    token_for,
)
from shared.events import Envelope
from shared.jurisdiction import Jurisdiction, load_jurisdiction
from shared.open311 import (
    InvalidPostServiceRequest,
    Open311Error,
    Open311FormatError,
    PostServiceRequestResponse,
    Service,
    ServiceDefinition,
    ServiceRequest,
    coordinate_problem,
    parse_post_form,
    render_errors,
    render_post_response,
    render_requests,
    render_service_definition,
    render_services,
    to_aware_utc,
)
from shared.service import Runtime
from shared.settings import Settings

SERVICE = "intake_web"
Fmt = Literal["json", "xml"]
MEDIA = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
FUTURE_TOLERANCE = timedelta(minutes=5)
EARLIEST_REQUESTED = datetime(1990, 1, 1, tzinfo=UTC)


def _body(content: bytes, fmt: str, status: int = 200) -> Response:
    return Response(content=content, status_code=status, media_type=MEDIA[fmt])


def _error(fmt: str, status: int, description: str) -> Response:
    return _body(render_errors([Open311Error(code=status, description=description)], fmt), fmt, status)


def create_app(settings: Settings | None = None, *, agent_settings: AgentSettings | None = None,
               jurisdiction: Jurisdiction | None = None, publish: Callable[[Envelope], Any] | None = None,
               case_lookups: CaseLookups | None = None, clock: Callable[[], datetime] | None = None) -> Any:
    """Build intake_web: a FastAPI app whose lifespan runs the Kafka producer.

    Real dependencies by default; tests of the agent console pass a `jurisdiction`, a fake `publish`
    and `case_lookups` (then its routes need neither Kafka nor the case service) and a `clock`.
    """
    s = settings or Settings()
    agent_cfg = agent_settings or AgentSettings()
    rt = Runtime(s, SERVICE, title="omni311 Open311 GeoReport v2")
    if clock is not None:
        rt.clock = clock
    state: dict[str, Any] = {}

    def remember(jur: Jurisdiction) -> None:
        state["jurisdiction"] = jur
        state["services"] = [Service.model_validate(sv.to_open311()) for sv in jur.services]
        state["codes"] = {sv.service_code for sv in jur.services}

    if jurisdiction is not None:
        remember(jurisdiction)
    http_lookups = HttpCaseLookups(s.case_api_url, rt.log) if case_lookups is None else None

    async def start() -> None:
        if "jurisdiction" not in state:
            remember(load_jurisdiction(s.jurisdiction))
        state["http"] = httpx.AsyncClient(base_url=s.case_api_url, timeout=10.0)
        if http_lookups is not None:
            await http_lookups.start()
        if not agent_cfg.tokens:
            rt.log.warning("agent_tokens_missing", detail="OMNI311_AGENT_TOKENS is not set: the agent API "
                                                          "refuses every request with 401")

    async def stop() -> None:
        if "http" in state:
            await state["http"].aclose()
        if http_lookups is not None:
            await http_lookups.stop()

    async def publish_intake(env: Envelope) -> None:
        await rt.broker.publish(env.to_bytes(), topic=s.topic("intake.messages"), key=env.subject.encode(),
                                headers={"content-type": "application/json"})
        rt.handled.labels(env.event_type).inc()

    rt.on_start.append(start)
    rt.on_stop.append(stop)
    app = rt.app

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/docs")

    add_console(app, agents=AgentDirectory(dict(agent_cfg.tokens)), jurisdiction=lambda: state["jurisdiction"],
                publish=publish or publish_intake, lookups=case_lookups or http_lookups,  # type: ignore[arg-type]
                clock=lambda: rt.clock(), region=agent_cfg.default_region, log=rt.log, producer=SERVICE,
                poll_interval_ms=agent_cfg.case_poll_interval_ms)

    @app.get("/services.{fmt}")
    async def get_services(fmt: Fmt) -> Response:
        return _body(render_services(state["services"], fmt), fmt)

    @app.get("/services/{service_code}.{fmt}")
    async def get_service_definition(service_code: str, fmt: Fmt) -> Response:
        if service_code not in state["codes"]:
            return _error(fmt, 404, f"service_code {service_code} is not offered here")
        return _body(render_service_definition(ServiceDefinition(service_code=service_code), fmt), fmt)

    @app.post("/requests.{fmt}")
    async def post_request(fmt: Fmt, request: Request) -> Response:
        form = await request.form()
        api_key = str(form.get("api_key") or "")
        if api_key not in s.open311_api_keys:
            return _error(fmt, 403, "a valid api_key is required to submit service requests")
        try:
            req = parse_post_form(form)
        except InvalidPostServiceRequest as exc:
            return _body(render_errors(exc.errors, fmt), fmt, 400)
        if req.service_code is not None and req.service_code not in state["codes"]:
            return _error(fmt, 400, f"service_code {req.service_code} is not offered here; see GET /services.{fmt}")
        if req.lat is not None and req.long is not None:
            problem = coordinate_problem(req.lat, req.long, state["jurisdiction"].contains)
            if problem:
                return _error(fmt, 400, problem)
        now = rt.clock()
        # omni311 extension for bulk imports and apps that queue reports offline: when the report was made.
        requested = now
        if form.get("requested_datetime"):
            try:
                requested = to_aware_utc(str(form["requested_datetime"]))
            except ValueError as exc:
                return _error(fmt, 400, f"requested_datetime: {exc}")
            if requested is None or requested > now + FUTURE_TOLERANCE or requested < EARLIEST_REQUESTED:
                return _error(fmt, 400, "requested_datetime must be an ISO 8601 time with offset, "
                                        "not in the future and not before 1990")
        token = token_for(api_key, request.headers.get("idempotency-key"), form_digest(form))
        message = message_from_post(req, token=token, client_id=client_id_for(api_key), now=now,
                                    language=request.headers.get("content-language"))
        message = message.model_copy(update={"requested_datetime": requested})
        env = Envelope.new_flow(message, subject=message.contact_key, producer=SERVICE, now=now,
                                event_id=event_id_for(token))
        await rt.broker.publish(env.to_bytes(), topic=s.topic("intake.messages"),
                                key=message.contact_key.encode(), headers={"content-type": "application/json"})
        rt.handled.labels(env.event_type).inc()
        rt.log.info("intake_published", channel="open311", has_point=req.lat is not None)
        return _body(render_post_response([PostServiceRequestResponse(token=token)], fmt), fmt)

    class CaseApiUnavailable(Exception):
        """The case service did not answer; reads are refused with 503 until it does."""

    async def _case_api(path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        try:
            r = await state["http"].get(path, params=params)
        except httpx.HTTPError as exc:
            rt.log.warning("case_api_unreachable", error=repr(exc))
            raise CaseApiUnavailable from exc
        if r.status_code >= 500:
            raise CaseApiUnavailable(f"case API answered {r.status_code}")
        return r

    @app.exception_handler(Open311FormatError)
    async def unrenderable(request: Request, exc: Open311FormatError) -> Response:
        rt.log.error("open311_render_failed", error=str(exc)[:300])
        fmt = "xml" if request.url.path.endswith(".xml") else "json"
        return _error(fmt, 500, "this request cannot be shown in Open311 format; staff have been alerted")

    @app.exception_handler(CaseApiUnavailable)
    async def case_api_down(request: Request, _exc: CaseApiUnavailable) -> Response:
        fmt = "xml" if request.url.path.endswith(".xml") else "json"
        response = _error(fmt, 503, "case lookups are unavailable for a moment; please retry")
        response.headers["Retry-After"] = "5"
        return response

    @app.get("/tokens/{token}.{fmt}")
    async def get_token(token: str, fmt: Fmt) -> Response:
        r = await _case_api(f"/cases/tokens/{token}")
        r.raise_for_status()
        sid = r.json()["service_request_id"]
        return _body(render_post_response([PostServiceRequestResponse(token=token, service_request_id=sid)], fmt),
                     fmt)

    @app.get("/requests/{service_request_id}.{fmt}")
    async def get_request(service_request_id: str, fmt: Fmt) -> Response:
        r = await _case_api(f"/cases/requests/{service_request_id}")
        if r.status_code == 404:
            return _error(fmt, 404, f"service_request_id {service_request_id} not found")
        r.raise_for_status()
        return _body(render_requests([ServiceRequest.model_validate(r.json())], fmt), fmt)

    @app.get("/requests.{fmt}")
    async def get_requests(
        fmt: Fmt,
        service_request_id: str | None = None,
        service_code: str | None = None,
        status: str | None = None,
        start_date: str | None = None,
        end_date: str | None = None,
    ) -> Response:
        params: dict[str, Any] = {}
        try:
            start = to_aware_utc(start_date) if start_date else None
            end = to_aware_utc(end_date) if end_date else None
        except ValueError as exc:
            return _error(fmt, 400, f"start_date/end_date must be ISO 8601 with offset: {exc}")
        if start and end and end - start > MAX_QUERY_SPAN:
            return _error(fmt, 400, "start_date and end_date may not span more than 90 days")
        if status and any(x not in ("open", "closed") for x in status.split(",")):
            return _error(fmt, 400, "status must be open, closed or both separated by a comma")
        for key, value in (("service_request_id", service_request_id), ("service_code", service_code),
                           ("status", status)):
            if value:
                params[key] = value
        if start:
            params["start_date"] = start.astimezone(UTC).isoformat()
        if end:
            params["end_date"] = end.astimezone(UTC).isoformat()
        r = await _case_api("/cases/requests", params)
        r.raise_for_status()
        return _body(render_requests([ServiceRequest.model_validate(x) for x in r.json()], fmt), fmt)

    return app


