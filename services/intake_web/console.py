"""The call-agent console of intake_web: an authenticated agent API and the page agents use on the line.

Produces `intake.message_received` (channel ``phone``, with `agent_id`) on `intake.messages`; reads the
case API (`GET /cases/tokens/{token}?channel=phone`, `GET /cases/by-contact/{contact_key}`).
Routes: ``GET /agent`` (page), ``GET /agent/console.js``, ``POST /agent/requests``,
``GET /agent/tokens/{token}``, ``POST /agent/callers`` (earlier cases of a caller). Every ``/agent/*``
API call needs ``Authorization: Bearer <token>`` or HTTP Basic with the token as password
(tokens from ``OMNI311_AGENT_TOKENS``); a missing or wrong one gets 401 and nothing is published.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from fastapi import FastAPI, Request, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.intake_web.domain.agent import (
    AgentDirectory,
    agent_event_id_for,
    e164,
    message_from_agent,
    parse_submission,
    phone_contact_key,
)
from shared.events import Envelope
from shared.jurisdiction import Jurisdiction
from shared.open311 import Open311Error, coordinate_problem, render_errors

HERE = Path(__file__).resolve().parent
EARLIER_UNAVAILABLE = "earlier cases unavailable"
JSON = "application/json; charset=utf-8"


class CaseLookupUnavailable(Exception):
    """The case service did not answer (unreachable or 5xx)."""


class CaseLookups(Protocol):
    """What the console reads from the case service."""

    async def case_of_token(self, token: str) -> str | None:
        """The case number (`service_request_id`) of a phone token, None while not yet opened.
        Raises `CaseLookupUnavailable`."""

    async def by_contact(self, contact_key: str) -> list[dict[str, Any]] | None:
        """The contact's cases as Open311 request dicts (newest first), or None when the case service
        cannot tell (endpoint missing, unreachable or failing)."""


class HttpCaseLookups:
    """`CaseLookups` over the case service's read API."""

    def __init__(self, base_url: str, log: Any) -> None:
        self.base_url = base_url
        self.log = log
        self.http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=5.0)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    async def case_of_token(self, token: str) -> str | None:
        assert self.http is not None
        try:
            r = await self.http.get(f"/cases/tokens/{token}", params={"channel": "phone"})
        except httpx.HTTPError as exc:
            raise CaseLookupUnavailable(repr(exc)) from exc
        if r.status_code >= 500:
            raise CaseLookupUnavailable(f"case API answered {r.status_code}")
        r.raise_for_status()
        return r.json().get("service_request_id")

    async def by_contact(self, contact_key: str) -> list[dict[str, Any]] | None:
        assert self.http is not None
        try:
            r = await self.http.get(f"/cases/by-contact/{contact_key}")
        except httpx.HTTPError as exc:
            self.log.warning("case_api_unreachable", error=repr(exc))
            return None
        if r.status_code != 200:
            # 404: a case service without the endpoint (it answers [] for a contact with no cases).
            self.log.warning("earlier_cases_unavailable", status=r.status_code)
            return None
        body = r.json()
        return body if isinstance(body, list) else None


def _errors(status: int, *descriptions: str) -> Response:
    """Open311 GeoReport v2 error list (JSON) with `status`."""
    return Response(render_errors([Open311Error(code=status, description=d) for d in descriptions], "json"),
                    status_code=status, media_type=JSON)


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, default=str), status_code=status, media_type=JSON)


def default_region(jur: Jurisdiction, configured: str | None) -> str:
    """Where caller numbers without ``+`` are read: the setting, else the jurisdiction's holiday country."""
    if configured:
        return configured.upper()
    country = getattr(jur.holidays, "country", None) if jur.holidays is not None else None
    return (country or "US").upper()


def district_map(jur: Jurisdiction, width: float = 600.0) -> dict[str, Any] | None:
    """The jurisdiction's districts as SVG paths to click on, or None without districts.

    Equirectangular projection, x scaled by cos(mid latitude), `width` SVG units wide; the page turns a
    click back into lat/long with ``lat = north - y / k`` and ``long = west + x / (k * cos_lat)``.
    Outlines are simplified to about 1/400 of the extent so a large city's page stays small.
    """
    index = jur.districts
    if index is None or not index.areas:
        return None
    geoms = [(d, index.geometry(d.id)) for d in index.areas]
    geoms = [(d, g) for d, g in geoms if g is not None and not g.is_empty]
    if not geoms:
        return None
    west = min(g.bounds[0] for _, g in geoms)
    south = min(g.bounds[1] for _, g in geoms)
    east = max(g.bounds[2] for _, g in geoms)
    north = max(g.bounds[3] for _, g in geoms)
    cos_lat = math.cos(math.radians((north + south) / 2))
    span = max((east - west) * cos_lat, north - south) or 1.0
    k = width / ((east - west) * cos_lat or 1.0)
    height = (north - south) * k

    def ring(coords: Any) -> str:
        pts = [f"{(x - west) * cos_lat * k:.1f},{(north - y) * k:.1f}" for x, y, *_ in coords]
        return "M" + "L".join(pts) + "Z"

    paths = []
    for district, geom in geoms:
        simple = geom.simplify(span / 400, preserve_topology=True)
        polygons = list(getattr(simple, "geoms", [simple]))
        d = "".join(ring(p.exterior.coords) + "".join(ring(i.coords) for i in p.interiors)
                    for p in polygons if hasattr(p, "exterior"))
        if d:
            paths.append({"id": district.id, "name": district.name, "d": d})
    return {"width": round(width, 1), "height": round(height, 1), "north": north, "west": west, "k": k,
            "cos_lat": cos_lat, "paths": paths}


def add_console(app: FastAPI, *, agents: AgentDirectory, jurisdiction: Callable[[], Jurisdiction],
                publish: Callable[[Envelope], Awaitable[None]], lookups: CaseLookups,
                clock: Callable[[], datetime], region: str | None, log: Any, producer: str,
                poll_interval_ms: int = 1000) -> None:
    """Register the console's routes on `app`. `jurisdiction()` is called per request (it is loaded at
    start-up); `publish` must not return before the broker acknowledged (acks=all)."""
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    script = (HERE / "static" / "agent_console.js").read_bytes()
    maps: dict[str, Any] = {}

    def agent_of(request: Request) -> str | None:
        return agents.agent_for(request.headers.get("authorization"))

    def unauthorized() -> Response:
        response = _errors(401, "an agent token is required: Authorization: Bearer <token>")
        response.headers["WWW-Authenticate"] = 'Bearer realm="omni311-agents"'
        return response

    @app.get("/agent", include_in_schema=False)
    async def console_page() -> Response:
        jur = jurisdiction()
        groups: dict[str, list[Any]] = {}
        for sv in jur.services:
            groups.setdefault(sv.group or "Other", []).append(sv)
        if "map" not in maps:
            maps["map"] = district_map(jur)
        html = templates.get_template("agent_console.html").render(
            city=jur.name, groups=groups, district_map=maps["map"], region=default_region(jur, region), poll_interval_ms=poll_interval_ms,
            unavailable=EARLIER_UNAVAILABLE)
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'"})

    @app.get("/agent/console.js", include_in_schema=False)
    async def console_script() -> Response:
        return Response(script, media_type="text/javascript; charset=utf-8")

    @app.post("/agent/requests")
    async def post_agent_request(request: Request) -> Response:
        """Log a phone request for a caller (JSON body, see `parse_submission`); 202 with the token."""
        agent_id = agent_of(request)
        if agent_id is None:
            log.warning("agent_auth_rejected", path=request.url.path)
            return unauthorized()
        try:
            body = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _errors(400, "the body must be JSON")
        jur = jurisdiction()
        sub = parse_submission(body, service_codes={sv.service_code for sv in jur.services},
                               default_region=default_region(jur, region),
                               coordinate_problem=lambda la, lo: coordinate_problem(la, lo, jur.contains))
        if isinstance(sub, list):
            return _errors(400, *sub)
        now = clock()
        message = message_from_agent(sub, agent_id=agent_id, now=now,
                                     language=request.headers.get("content-language"))
        env = Envelope.new_flow(message, subject=message.contact_key, producer=producer, now=now,
                                event_id=agent_event_id_for(message.channel_message_id))
        await publish(env)
        log.info("intake_published", channel="phone", agent_id=agent_id, event_id=str(env.event_id),
                 correlation_id=str(env.correlation_id), has_point=sub.lat is not None)
        return _json({"token": message.channel_message_id, "request_id": sub.request_id, "agent_id": agent_id,
                      "channel": "phone"}, 202)

    @app.get("/agent/tokens/{token}")
    async def get_agent_token(token: str, request: Request) -> Response:
        """The case number of a phone token once the case service opened it (else null)."""
        if agent_of(request) is None:
            return unauthorized()
        try:
            sid = await lookups.case_of_token(token)
        except CaseLookupUnavailable:
            response = _errors(503, "case lookups are unavailable for a moment; please retry")
            response.headers["Retry-After"] = "5"
            return response
        return _json({"token": token, "service_request_id": sid})

    @app.post("/agent/callers")
    async def look_up_caller(request: Request) -> Response:
        """The caller's earlier cases by phone number (JSON ``{"phone": ...}``; POST keeps the number out
        of URLs and access logs)."""
        if agent_of(request) is None:
            return unauthorized()
        try:
            body = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _errors(400, "the body must be JSON")
        raw = body.get("phone") if isinstance(body, dict) else None
        jur = jurisdiction()
        region_code = default_region(jur, region)
        phone = e164(raw if isinstance(raw, str) else None, region_code)
        if phone is None:
            return _errors(400, f"phone is not a phone number (write it with its area code, or +country code); "
                                f"numbers without + are read as {region_code}")
        found = await lookups.by_contact(phone_contact_key(phone))
        if found is None:
            return _json({"phone": phone, "available": False, "message": EARLIER_UNAVAILABLE, "requests": []})
        return _json({"phone": phone, "available": True, "requests": found[:50]})
