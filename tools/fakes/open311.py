"""A fake Open311 GeoReport v2 back office (a county's or a utility's) for the forwarder, answering with the
real payloads of ``$OMNI311_SHARED_DATA/open311`` (read at start, never copied into the repository):

- ``POST /requests.{xml|json}``: with the right ``api_key`` (form field), the real POST answer
  (``cfa_gem_post_service_request_response.xml``: id 293944, a service notice, an empty ``<account_id/>``;
  in JSON the same items); in ``token`` mode a token only (GeoReport v2 allows it), which
  ``GET /tokens/{token}.{fmt}`` resolves to the id of the real answer. A wrong or missing key is a 403 whose
  body is the real ``cfa_gem_error_403_with_http_status_line.txt``, status line included, as captured.
- ``GET /requests.{fmt}?service_request_id=a,b``: the requests of those ids, each a real record of
  ``cfa_gem_service_requests_sf.xml``, ``toronto_requests_many.xml`` (XML, with their empty elements) or
  ``chicago_requests_small.json`` (JSON) served under the id asked (its own fields otherwise as in the file);
  an id the fake was not told about is left out, as a GeoReport server leaves out what it does not know.
- ``GET /requests/{id}.{fmt}``: one request, or the real ``cfa_gem_error_404_not_found.xml`` (404).

Control routes (no key): ``POST /fake/requests/{id}`` ``{"file": "<one of the request files>", "record":
"<service_request_id in it>"}`` serves that real record for ``id`` (its status, notes and agency are what a
poll reads: moving an id from a Toronto ``open`` record to the SF ``closed`` one is a status change);
``POST /fake/mode`` ``{"post": "id"|"token"}``; ``POST /fake/failures`` ``{"count": n, "kind":
"403"|"404"|"503"|"errors_200"|"garbage"}``: the next n Open311 answers fail so (403 and 404 with the real
bodies; ``errors_200`` the real 404 error list with status 200; ``garbage`` an HTML page). ``GET /sent``
lists what it received (the POST forms without ``api_key``).

Run alone with ``python -m tools.fakes.open311 [--port 8095] [--api-key KEY]`` (development only).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from lxml import etree

from shared.jurisdiction import shared_data_root
from tools.fakes.recording import Recorder, mount_common

PORT = 8095
POST_ANSWER = "cfa_gem_post_service_request_response.xml"
ERROR_403 = "cfa_gem_error_403_with_http_status_line.txt"
ERROR_404 = "cfa_gem_error_404_not_found.xml"
XML_LISTS = ("cfa_gem_service_requests_sf.xml", "toronto_requests_many.xml")
JSON_LISTS = ("chicago_requests_small.json",)
FAILURE_KINDS = ("403", "404", "503", "errors_200", "garbage")


def data_dir() -> Path:
    """The ``open311`` folder of the shared data (`shared.jurisdiction.shared_data_root`, the one rule for
    ``$OMNI311_SHARED_DATA`` and its default)."""
    return shared_data_root() / "open311"


def _xml(data: bytes) -> etree._Element:
    """Parse one of the shared files (trusted, still read with no DTD, no entities, no network)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data.lstrip(), parser)


class Records:
    """The real records, by file and id: XML ``<request>`` elements and JSON objects as the files hold them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.xml: dict[tuple[str, str], etree._Element] = {}
        self.json: dict[tuple[str, str], dict[str, Any]] = {}
        for name in XML_LISTS:
            for request in _xml((folder / name).read_bytes()):
                if isinstance(request.tag, str):
                    self.xml[(name, request.findtext("service_request_id").strip())] = request
        for name in JSON_LISTS:
            for item in json.loads((folder / name).read_text("utf-8")):
                self.json[(name, str(item["service_request_id"]))] = item
        self.post_answer = (folder / POST_ANSWER).read_bytes()
        self.error_403 = (folder / ERROR_403).read_bytes()
        self.error_404 = (folder / ERROR_404).read_bytes()
        root = _xml(self.post_answer)
        self.posted_id = root.findtext("request/service_request_id").strip()

    def known(self, file: str, record: str) -> bool:
        return (file, record) in self.xml or (file, record) in self.json

    def as_xml(self, file: str, record: str, served_id: str) -> etree._Element:
        """The record as a ``<request>`` element under `served_id`."""
        if (file, record) in self.xml:
            element = copy.deepcopy(self.xml[(file, record)])
        else:
            element = etree.Element("request")
            for key, value in self.json[(file, record)].items():
                etree.SubElement(element, key).text = None if value is None else str(value)
        element.find("service_request_id").text = served_id
        return element

    def as_json(self, file: str, record: str, served_id: str) -> dict[str, Any]:
        """The record as a JSON object under `served_id` (an XML record's empty elements as null)."""
        if (file, record) in self.json:
            item = dict(self.json[(file, record)])
        else:
            item = {child.tag: (child.text.strip() or None) if child.text is not None else None
                    for child in self.xml[(file, record)] if isinstance(child.tag, str)}
        item["service_request_id"] = served_id
        return item

    def post_answer_json(self) -> bytes:
        root = _xml(self.post_answer)
        items = [{child.tag: (child.text.strip() or None) if child.text is not None else None
                  for child in request if isinstance(child.tag, str)} for request in root]
        return json.dumps(items).encode()


class BackOffice:
    """The fake's state and answers (one lock: uvicorn may serve from threads): the records served under
    our ids (`served`), the tokens handed out (`tokens`), the POST mode (``id`` or ``token``) and the
    failures still to answer. `api_key`: the only key a POST may carry (None: any, or none)."""

    def __init__(self, records: Records, rec: Recorder, api_key: str | None) -> None:
        self.records, self.rec, self.api_key = records, rec, api_key
        self.lock = threading.Lock()
        self.served: dict[str, tuple[str, str]] = {}
        self.tokens: dict[str, str] = {}
        self.post_mode = "id"
        self.failures: list[str] = []
        self._numbers = itertools.count(1)

    def failing(self, fmt: str) -> Response | None:
        """The next planned failure's answer (recorded), or None when none is planned."""
        with self.lock:
            kind = self.failures.pop(0) if self.failures else None
        if kind is None:
            return None
        self.rec.record("failure", failure=kind)
        if kind in ("403", "404"):
            body = self.records.error_403 if kind == "403" else self.records.error_404
            return Response(body, status_code=int(kind), media_type="text/xml")
        if kind == "errors_200":
            return Response(self.records.error_404, status_code=200, media_type=_media(fmt))
        if kind == "garbage":
            return Response(b"<html><body>Service Unavailable</body></html>", status_code=200,
                            media_type="text/html")
        return Response(b"Service Unavailable", status_code=503, media_type="text/plain")

    def posted(self, fmt: str, given_key: object) -> Response:
        """Open311 GeoReport v2, POST Service Request: 403 (the real body) for a wrong key, else the real
        answer, or in ``token`` mode a new token that `token_answer` resolves to the real answer's id."""
        if self.api_key is not None and given_key != self.api_key:
            return Response(self.records.error_403, status_code=403, media_type="text/xml")
        if self.post_mode != "token":
            body = self.records.post_answer_json() if fmt == "json" else self.records.post_answer
            return Response(body, media_type=_media(fmt))
        with self.lock:
            token = f"fake-token-{next(self._numbers)}"
            self.tokens[token] = self.records.posted_id
        return _token_answer(token, None, fmt)

    def token_answer(self, token: str, fmt: str) -> Response:
        """Open311 GeoReport v2, GET request_id from a token: the id, or the real 404 body."""
        with self.lock:
            sid = self.tokens.get(token)
        if sid is None:
            return Response(self.records.error_404, status_code=404, media_type="text/xml")
        return _token_answer(token, sid, fmt)

    def listed(self, ids: list[str], fmt: str) -> Response:
        """The requests of `ids` the fake serves (others left out), as a GeoReport list in `fmt`."""
        with self.lock:
            found = [(sid, self.served[sid]) for sid in ids if sid in self.served]
        if fmt == "json":
            return Response(json.dumps([self.records.as_json(f, r, sid) for sid, (f, r) in found]).encode(),
                            media_type=_media(fmt))
        root = etree.Element("service_requests")
        for sid, (f, r) in found:
            root.append(self.records.as_xml(f, r, sid))
        return Response(etree.tostring(root, xml_declaration=True, encoding="utf-8"), media_type=_media(fmt))


def _token_answer(token: str, sid: str | None, fmt: str) -> Response:
    """A GeoReport list of one request: its `token`, and its id `sid` once there is one."""
    if fmt == "json":
        item = {"token": token, **({"service_request_id": sid} if sid is not None else {})}
        return Response(json.dumps([item]).encode(), media_type=_media(fmt))
    id_element = f"<service_request_id>{sid}</service_request_id>" if sid is not None else ""
    body = (f'<?xml version="1.0" encoding="utf-8"?>\n<service_requests><request><token>{token}</token>'
            f"{id_element}</request></service_requests>").encode()
    return Response(body, media_type=_media(fmt))


def create_app(folder: Path | None = None, api_key: str | None = "fake-open311-key") -> FastAPI:
    """The fake back office reading the real payloads in `folder` (default `data_dir()`) at creation;
    `api_key`: the only key a POST may carry (None: any, or none). Raises `OSError` when a file is missing."""
    records = Records(folder or data_dir())
    app = FastAPI(title="fake Open311 back office (development only)")
    rec = Recorder("open311")
    app.state.recorder, app.state.records = rec, records
    mount_common(app, rec)
    office = BackOffice(records, rec, api_key)
    _open311_routes(app, office)
    _control_routes(app, office)
    return app


def _open311_routes(app: FastAPI, office: BackOffice) -> None:
    """The GeoReport v2 routes the forwarder calls; each records what it was asked."""

    @app.post("/requests.{fmt}")
    async def post_request(fmt: str, request: Request) -> Response:
        form = await request.form()
        fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        office.rec.record("post", fmt=fmt, fields=[(k, v) for k, v in fields if k != "api_key"],
                          idempotency_key=request.headers.get("idempotency-key"))
        return office.failing(fmt) or office.posted(fmt, form.get("api_key"))

    @app.get("/tokens/{token}.{fmt}")
    async def get_token(token: str, fmt: str) -> Response:
        office.rec.record("token", token=token)
        return office.failing(fmt) or office.token_answer(token, fmt)

    @app.get("/requests.{fmt}")
    async def get_requests(fmt: str, service_request_id: str = "") -> Response:
        ids = [i.strip() for i in service_request_id.split(",") if i.strip()]
        office.rec.record("poll", ids=ids)
        return office.failing(fmt) or office.listed(ids, fmt)

    @app.get("/requests/{sid}.{fmt}")
    async def get_request(sid: str, fmt: str) -> Response:
        if sid not in office.served:
            return Response(office.records.error_404, status_code=404, media_type="text/xml")
        return office.listed([sid], fmt)


def _control_routes(app: FastAPI, office: BackOffice) -> None:
    """The test's controls (no key): what a request id serves, the POST mode, the failures to answer."""

    @app.post("/fake/requests/{sid}")
    async def serve_as(sid: str, request: Request) -> Response:
        body = await _json_body(request)
        file, record = str(body.get("file")), str(body.get("record"))
        if not office.records.known(file, record):
            return JSONResponse({"error": f"no record {record!r} in {file!r}"}, status_code=400)
        with office.lock:
            office.served[sid] = (file, record)
        return JSONResponse({"service_request_id": sid, "file": file, "record": record})

    @app.post("/fake/mode")
    async def mode(request: Request) -> Response:
        body = await _json_body(request)
        if body.get("post") not in ("id", "token"):
            return JSONResponse({"error": 'want {"post": "id"|"token"}'}, status_code=400)
        office.post_mode = body["post"]
        return JSONResponse({"post": office.post_mode})

    @app.post("/fake/failures")
    async def failures(request: Request) -> Response:
        body = await _json_body(request)
        count, kind = body.get("count"), body.get("kind")
        if not isinstance(count, int) or count < 0 or kind not in FAILURE_KINDS:
            return JSONResponse({"error": f'want {{"count": n, "kind": one of {FAILURE_KINDS}}}'}, status_code=400)
        with office.lock:
            office.failures = [kind] * count
        return JSONResponse({"count": count, "kind": kind})


def _media(fmt: str) -> str:
    return "application/json" if fmt == "json" else "text/xml; charset=utf-8"


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def main(argv: list[str] | None = None) -> int:
    """Serve the fake on 127.0.0.1 until interrupted; refuses (exit 2) with ``OMNI311_ENVIRONMENT=production``."""
    parser = argparse.ArgumentParser(prog="python -m tools.fakes.open311", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--api-key", default="fake-open311-key")
    args = parser.parse_args(argv)
    if os.environ.get("OMNI311_ENVIRONMENT") == "production":
        print("tools.fakes.open311: refused with OMNI311_ENVIRONMENT=production", file=sys.stderr)
        return 2
    import uvicorn

    uvicorn.run(create_app(api_key=args.api_key), host="127.0.0.1", port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
