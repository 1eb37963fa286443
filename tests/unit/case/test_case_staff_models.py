"""The staff API's response models (`entrypoints/staff_models.py`) say exactly what the routes build: each
model's fields are the keys of the `dict` the domain makes (a field the model lacked would be dropped from
the answer without a word), every `/staff` route declares one in the OpenAPI document, and times keep
their `isoformat()` form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

from case_fakes import demo
from fastapi import FastAPI

from services.case.adapters.repository import CASE_COLUMNS
from services.case.domain import staff as rules
from services.case.entrypoints import http
from services.case.entrypoints.staff_models import (
    ExternalRequest,
    ReporterCase,
    StaffCase,
    StaffCaseRow,
    StaffConfig,
)
from support.uow import T0


def a_case(**kw: Any) -> dict[str, Any]:
    columns = [c.strip() for c in CASE_COLUMNS.split(",")]
    return {**dict.fromkeys(columns), "case_id": uuid4(), "service_request_id": "DEMO-26-000001",
            "jurisdiction_id": "demo", "status": "open", "channel": "sms", "description": "Pothole",
            "media_url": [], "workflow_status": "acknowledged", "requested_datetime": T0, "updated_datetime": T0,
            "opened_at": T0, "correlation_id": uuid4(), "attributes": {}, **kw}


def test_the_case_models_have_exactly_the_keys_the_domain_builds() -> None:
    sla = {"due_at": T0, "warn_at": None, "state": "ok", "paused_at": None}
    row = rules.staff_case_row(a_case(), demo(), sla_state_="ok", sla_due_at=T0)
    detail = rules.staff_case_detail(a_case(), demo(), sla=sla, merged_into=None, messages=[], reporters=[], merged=[],
                                     timeline=[], external_requests=[])
    assert set(StaffCaseRow.model_fields) == set(row)
    assert set(StaffCase.model_fields) == set(detail)
    assert set(StaffConfig.model_fields) == set(rules.staff_config(demo()))
    history = rules.reporter_case_row({**a_case(), "reporter_key": "k1", "merged_from": None})
    assert set(ReporterCase.model_fields) == set(history)
    StaffConfig.model_validate(rules.staff_config(demo()))


def test_times_keep_their_isoformat_and_an_external_request_validates() -> None:
    forwarded = T0 + timedelta(minutes=5)
    out = ExternalRequest.model_validate({
        "endpoint": "county-public-works", "external_service_request_id": None, "token": "t-1",
        "external_service_code": "4fd3", "forwarded_at": forwarded, "last_status": None,
        "last_agency_responsible": None, "last_updated_datetime": None, "last_reported_at": None,
    }).model_dump(mode="json")
    assert out["forwarded_at"] == forwarded.isoformat() and out["forwarded_at"].endswith("+00:00")


def test_every_staff_route_declares_its_answer_in_the_openapi_document() -> None:
    app = FastAPI()
    http.mount(app, http.CaseApi(reads=lambda: None, unit_of_work=lambda: None,  # type: ignore[arg-type,return-value]
                                 jurisdiction=demo, now=lambda: T0))
    paths = app.openapi()["paths"]
    staff = {(m, p): op for p, ops in paths.items() if p.startswith("/staff/") for m, op in ops.items()}
    assert ("get", "/staff/reporters/cases") in staff
    missing = [key for key, op in staff.items()
               if "$ref" not in str(op["responses"]["200"]["content"]["application/json"]["schema"])]
    assert missing == []
    keys = next(p for p in staff[("get", "/staff/reporters/cases")]["parameters"] if p["name"] == "contact_key")
    assert keys["required"] and keys["schema"]["maxItems"] == 20 and keys["schema"]["minItems"] == 1
