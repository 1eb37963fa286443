"""Fakes for the workbench's unit tests: the case service's staff API and intake_web's agent API as small
in-process FastAPI apps (reached through `httpx.ASGITransport`) that record every call with its token, and
a workbench app built on them that trusts the session's test issuer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.workbench.app import create_app
from shared.jurisdiction import Jurisdiction, load_jurisdiction

NOW = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
STATUSES = [
    {"id": "new", "labels": {"en": "New", "fr": "Nouveau"}},
    {"id": "acknowledged", "labels": {"en": "Acknowledged", "fr": "Reçu"}},
    {"id": "assigned", "labels": {"en": "Assigned", "fr": "Attribué"}},
    {"id": "in_progress", "labels": {"en": "In progress", "fr": "En cours"}},
    {"id": "waiting_on_resident", "labels": {"en": "Waiting on resident", "fr": "En attente du résident"}},
    {"id": "resolved", "labels": {"en": "Resolved", "fr": "Résolu"}},
]


def a_case(sid: str, *, due_in_h: float | None = 5, state: str = "ok", **fields: Any) -> dict[str, Any]:
    """A case as ``GET /staff/cases/{sid}`` shows it (the contract's fields)."""
    case: dict[str, Any] = {
        "service_request_id": sid, "status": "open", "workflow_status": "assigned", "service_code": "pothole",
        "service_name": "Pothole", "description": "Deep pothole by the school", "address": "12 Main St",
        "lat": 45.42, "long": -75.69, "district": "centre", "queue": "roads", "department": "public-works",
        "assignee": "dev-staff", "team": "roads", "priority": 3, "channel": "email",
        "requested_datetime": (NOW - timedelta(hours=2)).isoformat(),
        "sla": {"due_at": (NOW + timedelta(hours=due_in_h)).isoformat() if due_in_h is not None else None,
                "warn_at": None, "state": state, "paused_at": None},
        "allowed_transitions": ["in_progress", "waiting_on_resident", "resolved"],
        "messages": [{"text": "There is a deep pothole", "media_url": ["http://media.test/p1.jpg"],
                      "channel": "email", "received_at": (NOW - timedelta(hours=2)).isoformat()}],
        "reporters": [{"contact_key": "ck_1", "channel": "email", "address": "r***@example.org", "case": sid,
                       "merged": False}],
        "merged": [],
        "timeline": [
            {"kind": "opened", "at": (NOW - timedelta(hours=2)).isoformat(), "detail": {}},
            {"kind": "internal_note", "at": (NOW - timedelta(hours=1)).isoformat(),
             "detail": {"actor": "dev-staff", "actor_name": "Sam", "role": "department_staff",
                        "text": "Crew says Tuesday"}},
        ],
    }
    case.update(fields)
    return case


@dataclass
class Call:
    method: str
    path: str
    authorization: str | None
    params: dict[str, str]
    body: Any


@dataclass
class FakeStaffApi:
    """The case service's staff API: cases in `cases`; `refuse[action] = (status, body)` answers an action
    with an error; every call lands in `calls`."""

    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse: dict[str, tuple[int, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    suggestions: list[dict[str, Any]] = field(default_factory=list)
    reporter_cases: list[dict[str, Any]] = field(default_factory=list)
    reporter_keys_asked: list[list[str]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/staff/reporters/cases")
        async def reporters_cases(request: Request) -> Any:
            await record(request)
            keys = request.query_params.getlist("contact_key")
            self.reporter_keys_asked.append(keys)
            if "reporters" in self.refuse:
                status, body = self.refuse["reporters"]
                return JSONResponse(body, status)
            return {"cases": [c for c in self.reporter_cases if c["contact_key"] in keys]}

        async def record(request: Request) -> Call:
            raw = await request.body()
            import json
            call = Call(request.method, request.url.path, request.headers.get("authorization"),
                        dict(request.query_params), json.loads(raw) if raw else None)
            self.calls.append(call)
            return call

        @app.get("/staff/config")
        async def config(request: Request) -> Any:
            await record(request)
            return {"statuses": STATUSES,
                    "queues": [{"id": "roads", "name": "Roads", "department_id": "public-works"},
                               {"id": "pw-supervisor", "name": "Escalations", "department_id": "public-works",
                                "supervisor": True},
                               {"id": "water-ops", "name": "Water", "department_id": "water"}],
                    "canned_responses": [{"id": "thanks", "title": {"en": "Thanks", "fr": "Merci"},
                                          "text": {"en": "Thank you for your report.",
                                                    "fr": "Merci de votre signalement."}}]}

        @app.get("/staff/cases")
        async def cases(request: Request) -> Any:
            await record(request)
            return list(self.cases.values())

        @app.get("/staff/cases/{sid}")
        async def case(request: Request, sid: str) -> Any:
            await record(request)
            if sid not in self.cases:
                return JSONResponse({"detail": f"no case {sid}"}, 404)
            return self.cases[sid]

        @app.post("/staff/cases/{sid}/{action}")
        async def act(request: Request, sid: str, action: str) -> Any:
            call = await record(request)
            if action in self.refuse:
                status, body = self.refuse[action]
                return JSONResponse(body, status)
            case = self.cases[sid]
            if action == "notes":
                case["timeline"].append({"kind": "internal_note", "at": NOW.isoformat(),
                                         "detail": {"actor": "x", "text": call.body["text"]}})
            if action == "transition":
                case["workflow_status"] = call.body["to"]
            return case

        @app.get("/staff/suggestions")
        async def suggestions(request: Request) -> Any:
            await record(request)
            return self.suggestions

        @app.post("/staff/suggestions/{sid}/{decision}")
        async def decide(request: Request, sid: str, decision: str) -> Any:
            await record(request)
            return {"id": sid, "status": decision}

        return app


@dataclass
class FakeAgentApi:
    """intake_web's agent API: every request is accepted with token `tok-1`, whose case is `case_number`."""

    calls: list[Call] = field(default_factory=list)
    case_number: str | None = None
    earlier: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/agent/requests")
        async def log(request: Request) -> Any:
            body = await request.json()
            self.calls.append(Call("POST", "/agent/requests", request.headers.get("authorization"), {}, body))
            if not body.get("caller_phone"):
                return JSONResponse([{"code": 400, "description": "caller_phone is required"}], 400)
            return JSONResponse({"token": "tok-1", "request_id": body["request_id"], "agent_id": "x",
                                 "channel": "phone"}, 202)

        @app.get("/agent/tokens/{token}")
        async def token(request: Request, token: str) -> Any:
            self.calls.append(Call("GET", request.url.path, request.headers.get("authorization"), {}, None))
            return {"token": token, "service_request_id": self.case_number}

        @app.post("/agent/callers")
        async def callers(request: Request) -> Any:
            body = await request.json()
            self.calls.append(Call("POST", "/agent/callers", request.headers.get("authorization"), {}, body))
            return {"phone": body["phone"], "available": True, "requests": self.earlier}

        return app


def a_summary() -> dict[str, Any]:
    """``GET /insights/summary`` in the insights service's shape (services/insights/domain/figures.py)."""
    return {
        "from": "2026-11-01", "to": "2026-11-30", "time_zone": "America/Toronto",
        "generated_at": "2026-11-30T15:00:00Z", "totals": {"opened": 6, "closed": 3, "open_backlog": 8},
        "per_day": [{"date": "2026-11-29", "total": 4, "by_channel": {"email": 3, "web": 1}, "by_service": {"pothole": 4}},
                    {"date": "2026-11-30", "total": 2, "by_channel": {"open311": 2}, "by_service": {"graffiti": 2}}],
        "by_channel": [{"channel": "email", "count": 3}, {"channel": "open311", "count": 2}, {"channel": "web", "count": 1}],
        "by_service": [{"service_code": "pothole", "service_name": "Pothole", "count": 4},
                       {"service_code": "graffiti", "service_name": "Graffiti", "count": 2}],
        "top_categories": [{"service_code": "pothole", "service_name": "Pothole", "count": 4},
                           {"service_code": "graffiti", "service_name": "Graffiti", "count": 2}],
        "backlog": [{"department": "public-works", "department_name": "Public Works", "total": 6,
                     "bands": {"0-2d": 5, "3-7d": 0, "8-30d": 0, ">30d": 1}},
                    {"department": "water", "department_name": "Water", "total": 2,
                     "bands": {"0-2d": 0, "3-7d": 2, "8-30d": 0, ">30d": 0}}],
        "age_bands": ["0-2d", "3-7d", "8-30d", ">30d"],
        "median_time_to_close_s": 93600.0,
        "sla_compliance": [{"department": "public-works", "department_name": "Public Works", "closed_with_due": 10,
                            "closed_within_due": 8, "ratio": 0.8},
                           {"department": "water", "department_name": "Water", "closed_with_due": 4,
                            "closed_within_due": 1, "ratio": 0.25}],
        "surveys": {"count": 3, "mean_rating": 4.333},
        "deflections": [{"article_id": "bulky-pickup", "count": 7}],
    }


def some_hotspots() -> dict[str, Any]:
    """``GET /insights/hotspots``: points [lat, long] (newest first), counts per district and the version."""
    return {"from": "2026-11-01", "to": "2026-11-30", "service_code": None, "time_zone": "America/Toronto",
            "points": [[45.4215, -75.6972], [45.4216, -75.6970], [45.40, -75.70]], "total": 3, "truncated": False,
            "point_count": 3, "districts": [{"district": "centre", "count": 2}, {"district": "unknown", "count": 1}],
            "unlocated": 1, "version": "0123456789abcdef"}


@dataclass
class FakeInsightsApi:
    """The insights service's dashboard API: answers `summary` and `hotspots` (without its points when
    asked ``points=false``), or `fail` = (status, body) to every call."""

    summary: dict[str, Any] = field(default_factory=a_summary)
    hotspots: dict[str, Any] = field(default_factory=some_hotspots)
    fail: tuple[int, Any] | None = None
    calls: list[Call] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/insights/{what}")
        async def read(request: Request, what: str) -> Any:
            self.calls.append(Call("GET", request.url.path, request.headers.get("authorization"),
                                   dict(request.query_params), None))
            if self.fail is not None:
                return JSONResponse(self.fail[1], self.fail[0])
            if what == "summary":
                return self.summary
            if request.query_params.get("points") == "false":
                return {k: v for k, v in self.hotspots.items() if k != "points"}
            return self.hotspots

        return app


class DownTransport(httpx.AsyncBaseTransport):
    """A service that cannot be reached (connection refused)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)


@dataclass
class FakeIntakeStaffApi:
    """intake_web's ``GET /staff/refusals?since=``: answers ``{"since", "refusals": rows, "truncated"}`` (or
    `fail`)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    fail: tuple[int, Any] | None = None
    calls: list[Call] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/staff/refusals")
        async def refusals(request: Request) -> Any:
            self.calls.append(Call("GET", request.url.path, request.headers.get("authorization"),
                                   dict(request.query_params), None))
            if self.fail is not None:
                return JSONResponse(self.fail[1], self.fail[0])
            return {"since": request.query_params.get("since"), "refusals": self.rows, "truncated": False}

        return app


_DEMO: list[Jurisdiction] = []


def demo() -> Jurisdiction:
    """The demo jurisdiction, loaded once."""
    if not _DEMO:
        _DEMO.append(load_jurisdiction("demo"))
    return _DEMO[0]


@dataclass
class FakeProfileApi:
    """The notifier's staff profile routes: `profiles` by profile id; a key's profile is the one holding it;
    `refuse[route] = (status, body)` answers ``get``, ``link`` or ``patch`` with an error; calls in `calls`."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    refuse: dict[str, tuple[int, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        async def record(request: Request) -> Call:
            raw = await request.body()
            import json
            call = Call(request.method, request.url.path, request.headers.get("authorization"),
                        dict(request.query_params), json.loads(raw) if raw else None)
            self.calls.append(call)
            return call

        def holding(key: str) -> dict[str, Any] | None:
            return next((p for p in self.profiles.values() if any(c["contact_key"] == key for c in p["contacts"])),
                        None)

        @app.get("/staff/profiles")
        async def profile(request: Request) -> Any:
            call = await record(request)
            if "get" in self.refuse:
                return JSONResponse(self.refuse["get"][1], self.refuse["get"][0])
            found = holding(call.params["contact_key"])
            return found if found else JSONResponse({"detail": "no profile", "error": "unknown"}, 404)

        @app.post("/staff/profiles/links")
        async def link(request: Request) -> Any:
            call = await record(request)
            if "link" in self.refuse:
                return JSONResponse(self.refuse["link"][1], self.refuse["link"][0])
            from shared.contacts import contact_key
            contacts = [{"contact_key": contact_key(c["kind"], c["value"]), "kind": c["kind"], "masked": "m***",
                         "linked_by": "staff:x", "linked_at": NOW.isoformat()} for c in call.body["contacts"]]
            made = {"profile_id": f"p{len(self.profiles) + 1}", "preferred_channel": call.body.get("preferred_channel"),
                    "language": call.body.get("language"), "contacts": contacts}
            self.profiles[made["profile_id"]] = made
            return made

        @app.patch("/staff/profiles/{profile_id}")
        async def patch(request: Request, profile_id: str) -> Any:
            call = await record(request)
            if "patch" in self.refuse:
                return JSONResponse(self.refuse["patch"][1], self.refuse["patch"][0])
            self.profiles[profile_id].update(call.body)
            return self.profiles[profile_id]

        return app


def workbench(issuer: Any, staff: FakeStaffApi, agent: FakeAgentApi | None = None, *,
              insights: FakeInsightsApi | httpx.AsyncBaseTransport | None = None,
              intake_staff: FakeIntakeStaffApi | None = None, jurisdiction: Jurisdiction | None = None,
              profiles: FakeProfileApi | httpx.AsyncBaseTransport | None = None,
              clock: Any = None, **settings: Any) -> httpx.AsyncClient:
    """A client of a workbench that trusts `issuer` (a `support.auth.TestIssuer`; its keys are also the
    development issuer's, so sign-in works) and talks to the fakes (`insights` may be a transport, e.g.
    `DownTransport`)."""
    insights = insights or FakeInsightsApi()
    app = create_app(issuer.settings(jurisdiction="demo", auth_dev_issuer_dir=issuer.dir, **settings),
                     jurisdiction=jurisdiction or demo(), case_transport=httpx.ASGITransport(app=staff.app()),
                     agent_transport=httpx.ASGITransport(app=(agent or FakeAgentApi()).app()),
                     insights_transport=insights if isinstance(insights, httpx.AsyncBaseTransport)
                     else httpx.ASGITransport(app=insights.app()),
                     intake_staff_transport=httpx.ASGITransport(app=(intake_staff or FakeIntakeStaffApi()).app()),
                     profile_transport=profiles if isinstance(profiles, httpx.AsyncBaseTransport)
                     else httpx.ASGITransport(app=(profiles or FakeProfileApi()).app()),
                     clock=clock or (lambda: datetime.now(UTC)))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8088")


def signed_in(client: httpx.AsyncClient, token: str) -> httpx.AsyncClient:
    """`client` with the session cookie holding `token`."""
    client.cookies.set("wb_session", token)
    return client
