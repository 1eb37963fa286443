"""Every HTTP service, fuzzed from its own OpenAPI document, answers no 5xx (issue 12, kind 8; docs/channels.md,
"Odd bytes").

One stack per module: the twelve services' apps (`services/*/app.py` `create_app`) on the real PostgreSQL and
Kafka of `tests/integration/conftest.py` (one database, one topic prefix), each started through its own
lifespan, all in one event loop (an anyio blocking portal), reached in-process through `httpx.ASGITransport`
(no ports). The workbench and intake_web call the in-process case, intake_web and insights apps the same
way, so a fuzzed value travels on as it would in production.

Two tests per service:

- `test_no_server_error_from_schema`: schemathesis generates requests from the service's document (its
  published OpenAPI document, with the routes it hides: pages, forms, probes) — positive and negative
  data, a bounded, derandomised number of examples per operation — and its `not_a_server_error` check
  judges every answer. Staff routes get a valid staff token (every staff role, so the fuzzer gets past
  401/403); Twilio and Meta webhooks are signed, so the fuzzer reaches the handlers behind the signature.
- `test_no_server_error_for_odd_bytes`: what generation rarely produces, tried on every operation: each
  path parameter, each query parameter (an undeclared one where there is none) and each body (JSON, form,
  raw bytes) holding control characters, invalid UTF-8 (percent-encoded bytes such as %FF%FE, an encoded
  surrogate, an overlong '/'), a lone surrogate or a non-character in JSON, and 30,000 characters (30,000
  '/' in a query: a service that sends it on percent-encodes it past the URL limit); and, for the webhooks
  that read their body themselves, a signed, well-formed Twilio form and Meta delivery with each of their
  fields set to such a value in turn (`SEED_BODIES`), so the odd value reaches the handler.

Schemathesis' own ASGI transport is not used to send: it runs each app's lifespan in an event loop of its
own that stays up until the process exits; the apps here hold pools and consumers on a database dropped
at the end of the session, so the module starts and stops them itself and sends schemathesis' serialised
requests with httpx.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import parse_qsl, quote

import anyio.from_thread
import httpx
import pytest
import schemathesis
from fastapi.openapi.utils import get_openapi
from fastapi.routing import RouteContext, iter_route_contexts
from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from twilio.request_validator import RequestValidator

from shared.kafka import ensure_topics
from shared.settings import Settings
from support.auth import TestIssuer
from support.fakes import FakeTwilioApi
from support.infra import KAFKA

pytestmark = pytest.mark.infra

MAX_EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}
"""Examples schemathesis generates per operation and mode (negative: only for an operation with a query or a
body); the module's run time grows with them (docs/channels.md asks for a bounded number, in `make test`)."""
BASE_URL = "http://testserver"
TWILIO_TOKEN = "fuzz-twilio-auth-token"
META_SECRET = "fuzz-meta-app-secret"
META_VERIFY = "fuzz-meta-verify-token"
STAFF_ROLES = ["administrator", "supervisor", "department_staff", "call_agent"]
SERVICES = ["intake_web", "case", "router", "workbench", "insights", "intake_email", "intake_sms_voice",
            "intake_social", "dedup", "notifier", "webhooks", "forwarder"]

# What goes into a URL, as sent on the wire (already percent-encoded where it must be).
URL_PIECES: dict[str, str] = {
    "control": "%00%0B%3C%27%14%7F",
    "invalid_utf8": "%FF%FE%C3%28",
    "encoded_surrogate": "%ED%A0%80",
    "overlong_slash": "%C0%AF",
    "crlf": "%0D%0ASet-Cookie:%20a=b",
    "dot_dot": "..%2F..%2Fetc%2Fpasswd",
    "huge": "x" * 30_000,
    "huge_encoded_slashes": "%2F" * 20_000,
}
QUERY_ONLY_PIECES: dict[str, str] = {"huge_slashes": "/" * 30_000}
EACH_QUERY_PARAMETER = {"control", "invalid_utf8", "huge", "huge_encoded_slashes", "huge_slashes"}
"""Pieces tried in each query parameter alone (one parameter refused first could hide another; two huge ones
make a URL longer than a client sends); the others are tried in every query parameter of an operation at once."""
# What goes into a body, as text (JSON escapes what it must; a form body gets it percent-encoded).
BODY_TEXTS: dict[str, str] = {
    "control": "\x00\x0b<'\x14\x7f",
    "lone_surrogate": "\ud800",
    "non_character": "\ufffe\uffff",
    "huge": "/" * 30_000,
}
SEED_TEXTS = {k: BODY_TEXTS[k] for k in ("control", "lone_surrogate", "huge")}
"""What each field of a seed body is set to, one field at a time."""
SMS_FORM = {"MessageSid": "SM" + "1" * 32, "AccountSid": "AC" + "0" * 32, "From": "+16135550123",
            "To": "+16135550311", "Body": "Pothole at 110 Laurier Ave W", "NumMedia": "0",
            "CallSid": "CA" + "1" * 32, "Digits": "1", "RecordingUrl": "", "TranscriptionText": "pothole",
            "MessageStatus": "delivered"}
"""The fields the Twilio webhooks read (inbound message, voice, status callback), sent to every one of them."""
META_BODIES = [
    {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "99"}, "messages": [
            {"from": "16135550100", "id": "wamid.1", "timestamp": "1764460800", "type": "text",
             "text": {"body": "Pothole at 110 Laurier Ave W"}}]}}]}]},
    {"object": "page", "entry": [{"id": "1", "time": 1764460800000, "messaging": [
        {"sender": {"id": "2001"}, "recipient": {"id": "1"}, "timestamp": 1764460800000,
         "message": {"mid": "m.1", "text": "Pothole at 110 Laurier Ave W"}}]}]},
]
OPEN311_FORM = {"api_key": "demo-key", "service_code": "pothole", "lat": "45.4215", "long": "-75.6972",
               "address_string": "110 Laurier Ave W", "description": "Pothole in the right lane",
               "email": "resident@example.org", "first_name": "Ann", "phone": "+16135550123",
               "attribute[size]": "large", "media_url": "https://example.org/p.jpg"}
SEED_BODIES: dict[str, list[Any]] = {"/twilio/": [SMS_FORM], "/webhooks/meta": META_BODIES,
                                     "/requests.{fmt}": [OPEN311_FORM]}
"""Well-formed bodies, by path prefix: a form (dict of str) or JSON. Signed (the webhooks, which read their
body themselves) or with the development API key (Open311), such a body gets past the door, so each of its
fields is tried with each of `SEED_TEXTS` in turn."""
RAW_BODIES: dict[str, bytes] = {
    "invalid_utf8": b"\xff\xfe\xc3(",
    "form_invalid_utf8": b"%FF%FE=%C3%28&a=%00%0B&b=" + b"%2F" * 10_000,
}


@dataclasses.dataclass
class Service:
    """One running app: its client (staff token, signatures), its document with hidden routes, its mounts."""

    name: str
    app: Any
    client: httpx.AsyncClient
    document: dict[str, Any]
    mounts: list[str] = dataclasses.field(default_factory=list)
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)


class TwilioSignature(httpx.Auth):
    """Sign each request as Twilio does (X-Twilio-Signature over the URL and the form's fields)."""

    requires_request_body = True

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        fields: dict[str, str] = {}
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            fields = dict(parse_qsl(request.content.decode("latin-1"), keep_blank_values=True))
        request.headers["X-Twilio-Signature"] = RequestValidator(TWILIO_TOKEN).compute_signature(
            str(request.url), fields)
        yield request


class MetaSignature(httpx.Auth):
    """Sign each request as Meta does (X-Hub-Signature-256: HMAC-SHA256 of the raw body)."""

    requires_request_body = True

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        digest = hmac.new(META_SECRET.encode(), request.content, hashlib.sha256).hexdigest()
        request.headers["X-Hub-Signature-256"] = f"sha256={digest}"
        yield request


@dataclasses.dataclass(frozen=True)
class _Shown(RouteContext):
    """A route as the document would show it if it were not hidden (`include_in_schema=False`)."""

    include_in_schema = True


def route_table_document(app: Any) -> dict[str, Any]:
    """The app's OpenAPI document (FastAPI's `get_openapi`, as ``/openapi.json`` serves it) with the routes
    it hides (``include_in_schema=False``: pages, forms, probes) shown too, so they are fuzzed as well."""
    shown = [_Shown(**{f.name: getattr(ctx, f.name) for f in dataclasses.fields(ctx)})
             for ctx in iter_route_contexts(app.routes)]
    whole = get_openapi(title=app.title, version=app.version, routes=shown)
    published = app.openapi()
    assert set(published.get("paths", {})) <= set(whole.get("paths", {})), "a published path went missing"
    return whole


@pytest.fixture(scope="module")
async def fuzz_settings(database: str, created_prefixes: list[str], tmp_path_factory: pytest.TempPathFactory
                        ) -> tuple[Settings, TestIssuer]:
    """Settings of the module's stack (its own topic prefix, every topic made) trusting a test issuer; the
    abuse limits raised so the fuzzer is not rate-limited into 429s that would hide the routes."""
    issuer = TestIssuer(tmp_path_factory.mktemp("fuzz-issuer"))
    prefix = f"itfuzz{uuid.uuid4().hex[:8]}."
    created_prefixes.append(prefix)
    generous = "1000000/minute"
    s = issuer.settings(kafka_bootstrap=KAFKA, pg_dsn=database, topic_prefix=prefix, outbox_poll_interval_s=0.5,
                        consumer_retry_attempts=1, consumer_retry_base_s=0.05, log_level="WARNING",
                        case_api_url="http://case.test", insights_api_url="http://insights.test",
                        workbench_intake_web_url="http://intake-web.test", limit_reports_per_client=generous,
                        limit_reports_per_api_key=generous, limit_uploads_per_client=generous,
                        limit_follows_per_client=generous, limit_reads_per_client=generous)
    await ensure_topics(s)
    return s, issuer


@pytest.fixture(scope="module")
def stack(fuzz_settings: tuple[Settings, TestIssuer]) -> Iterator[tuple[anyio.from_thread.BlockingPortal,
                                                                         dict[str, Service]]]:
    """The twelve apps started (in one event loop, a blocking portal's), stopped at the end of the module."""
    from services.case.app import create_app as case_app
    from services.dedup.app import create_app as dedup_app
    from services.forwarder.app import create_app as forwarder_app
    from services.insights.app import create_app as insights_app
    from services.intake_email.app import create_app as email_app
    from services.intake_sms_voice.app import create_app as sms_app
    from services.intake_sms_voice.config import TwilioSettings
    from services.intake_social.app import create_app as social_app
    from services.intake_social.config import SocialSettings
    from services.intake_web.adapters.portal import PortalCaseReads
    from services.intake_web.app import create_app as web_app
    from services.notifier.app import create_app as notifier_app
    from services.notifier.config import ChannelSettings
    from services.router.app import create_app as router_app
    from services.webhooks.app import create_app as webhooks_app
    from services.workbench.app import create_app as workbench_app
    from services.workbench.config import SESSION_COOKIE
    from shared.intake import CaseApiClient

    s, issuer = fuzz_settings
    token = issuer.token(roles=STAFF_ROLES, department="public-works")
    # The profile API texts a code: a notifier with no SMS sender answers 502 (code_not_sent) by design.
    twilio = FakeTwilioApi().start()
    texts = ChannelSettings(twilio_account_sid="AC" + "0" * 32, twilio_auth_token="fuzz-notifier-token",
                            twilio_from_number="+16135550311", twilio_api_base_url=twilio.url)
    apps: dict[str, Any] = {"case": case_app(s), "insights": insights_app(s), "router": router_app(s),
                            "intake_email": email_app(s), "dedup": dedup_app(s),
                            "notifier": notifier_app(s, channels=texts),
                            "webhooks": webhooks_app(s), "forwarder": forwarder_app(s)}
    case_reads = CaseApiClient("http://case.test", transport=httpx.ASGITransport(apps["case"]))
    portal_reads = PortalCaseReads("http://case.test", transport=httpx.ASGITransport(apps["case"]))
    apps["intake_web"] = web_app(s, case_api=case_reads, portal_reads=portal_reads)
    apps["workbench"] = workbench_app(
        s, case_transport=httpx.ASGITransport(apps["case"]), agent_transport=httpx.ASGITransport(apps["intake_web"]),
        insights_transport=httpx.ASGITransport(apps["insights"]))
    apps["intake_sms_voice"] = sms_app(s, twilio=TwilioSettings(auth_token=TWILIO_TOKEN, public_base_url=BASE_URL))
    apps["intake_social"] = social_app(s, social=SocialSettings(meta_app_secret=META_SECRET,
                                                                meta_verify_token=META_VERIFY))
    signers: dict[str, httpx.Auth] = {"intake_sms_voice": TwilioSignature(), "intake_social": MetaSignature()}

    async def start(exits: AsyncExitStack) -> dict[str, Service]:
        services: dict[str, Service] = {}
        for name in ["case", "insights", "router", "intake_email", "dedup", "notifier", "intake_web", "workbench",
                     "intake_sms_voice", "intake_social", "webhooks", "forwarder"]:
            app = apps[name]
            await exits.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE_URL, timeout=30,
                                       headers={"Authorization": f"Bearer {token}"}, auth=signers.get(name))
            client.cookies.set(SESSION_COOKIE, token)
            exits.push_async_callback(client.aclose)
            mounts = [r.path for r in app.routes if type(r).__name__ == "Mount"]
            services[name] = Service(name, app, client, route_table_document(app), mounts)
        for reads in (case_reads, portal_reads):  # given to intake_web, so not opened by its lifespan
            await reads.start()
            exits.push_async_callback(reads.stop)
        return services

    with anyio.from_thread.start_blocking_portal() as portal:
        exits = AsyncExitStack()
        try:
            services = portal.call(start, exits)
            yield portal, services
        finally:
            portal.call(exits.aclose)
            twilio.stop()


def send(portal: anyio.from_thread.BlockingPortal, service: Service, **kwargs: Any) -> httpx.Response:
    """One request (httpx `request` arguments) to the service in the stack's event loop."""

    async def go() -> httpx.Response:
        return await service.client.request(**kwargs)

    response = portal.call(go)
    service.statuses[response.status_code] += 1
    return response


def transport_kwargs(case: Any) -> dict[str, Any]:
    """A schemathesis case as httpx `request` arguments (it serialises for `requests`: `data` holds a raw
    body as bytes or text, or a form as a dict)."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    data = kwargs.pop("data", None)
    if isinstance(data, (bytes, str)):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    kwargs.pop("allow_redirects", None)
    cookies = kwargs.pop("cookies", None) or {}
    if cookies:
        kwargs["headers"] = {**kwargs.get("headers", {}),
                             "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    return {k: v for k, v in kwargs.items() if k in ("method", "url", "params", "headers", "json", "data",
                                                      "content", "files")}


def _describe(response: httpx.Response) -> str:
    request = response.request
    url = str(request.url)
    return (f"{request.method} {url[:200]}{'…' if len(url) > 200 else ''} -> {response.status_code} "
            f"{response.text[:200]!r}")


# -- schemathesis -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", SERVICES)
def test_no_server_error_from_schema(stack: tuple[anyio.from_thread.BlockingPortal, dict[str, Service]],
                                     name: str) -> None:
    portal, services = stack
    service = services[name]
    service.statuses.clear()
    schema = schemathesis.openapi.from_dict(service.document)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        raw = service.document["paths"][operation.path][operation.method.lower()]
        open_to_mutation = "requestBody" in raw or any(p.get("in") == "query" for p in raw.get("parameters", []))
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if open_to_mutation else (
                GenerationMode.POSITIVE,):

            @hypothesis_settings(max_examples=MAX_EXAMPLES[mode], derandomize=True, database=None, deadline=None,
                                 phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                                 print_blob=False)
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case: Any) -> None:
                kwargs = transport_kwargs(case)
                response = send(portal, service, **kwargs)
                try:
                    case.validate_response(response, checks=[not_a_server_error])
                except BaseExceptionGroup as exc:  # schemathesis' FailureGroup: add the request that made it
                    raise AssertionError(f"{_describe(response)}\n{exc}") from None

            try:
                fuzz()
            except Unsatisfiable:  # negative mode, an operation with nothing to make invalid (no parameter)
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request could be generated"
            except AssertionError as exc:
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:600]}")
            except Exception as exc:  # an exception the ASGI transport passes on: a 500 behind a real server
                failures.append(f"{operation.label} ({mode.value}): {type(exc).__name__}: {str(exc)[:600]}")
    assert not failures, f"{name}: {len(failures)} server error(s):\n" + "\n".join(failures)
    assert any(200 <= status < 300 for status in service.statuses), \
        f"{name}: no request got past the door (auth, signature): {dict(service.statuses)}"
    if name not in ("dedup", "notifier"):  # their only routes are the probes
        assert len(operations) > 3, f"{name}: only {len(operations)} operations in its document"


# -- odd bytes ----------------------------------------------------------------------------------------------
def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, operation


def _names(path: str) -> list[str]:
    return [p.split("}")[0] for p in path.split("{")[1:]]


def _fill(path: str, values: dict[str, str]) -> str:
    """`path` with each ``{param}`` replaced by its value in `values` (raw, as on the wire), else ``1``
    (``json`` for the ``{fmt}`` format suffix)."""
    for n in _names(path):
        path = path.replace("{" + n + "}", values.get(n, "json" if n == "fmt" else "1"))
    return path


def _plain(path: str) -> str:
    return _fill(path, {})


def _body_schema(document: dict[str, Any], operation: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    content = operation.get("requestBody", {}).get("content", {})
    for media_type, spec in content.items():
        schema = spec.get("schema", {})
        ref = schema.get("$ref")
        if ref:
            schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return media_type, schema
    return None, {}


def _leaves(value: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*where, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*where, i))
    else:
        yield where


def _replaced(value: Any, where: tuple[Any, ...], new: Any) -> Any:
    if not where:
        return new
    copy = list(value) if isinstance(value, list) else dict(value)
    copy[where[0]] = _replaced(value[where[0]], where[1:], new)
    return copy


_SIDS = itertools.count(1)


def _seeded(seed: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, httpx body arguments) for `seed` with each field (each leaf of a JSON body) set to each text."""
    for label, text in SEED_TEXTS.items():
        for where in _leaves(seed):
            body = _replaced(seed, where, text)
            if isinstance(body, dict) and where[0] != "MessageSid" and "MessageSid" in body:  # each a new message
                body["MessageSid"] = f"SM{next(_SIDS):032d}"
            name = "/".join(map(str, where))
            if all(isinstance(v, str) for v in seed.values()):  # a form
                form = "&".join(f"{quote(k)}={quote(v, errors='surrogatepass')}" for k, v in body.items())
                yield f"{name}={label}", {"content": form.encode(),
                                          "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
            else:
                yield f"{name}={label}", {"content": json.dumps(body).encode(),
                                          "headers": {"Content-Type": "application/json"}}


def odd_requests(document: dict[str, Any], mounts: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, httpx `request` arguments) for every odd value in every place of every operation."""
    for method, path, operation in _operations(document):
        params = operation.get("parameters", [])
        if not params:  # a parameter the route does not declare (it may read the query itself)
            for label, piece in URL_PIECES.items():
                yield f"{method} {path} ?zz={label}", {"method": method, "url": f"{_plain(path)}?zz={piece}"}
        for name in _names(path):
            for label, piece in URL_PIECES.items():
                yield f"{method} {path} {name}={label}", {"method": method, "url": _fill(path, {name: piece})}
        query = [quote(p["name"]) for p in params if p.get("in") == "query"]
        for label, piece in ({**URL_PIECES, **QUERY_ONLY_PIECES}.items() if query else ()):
            alone = label in EACH_QUERY_PARAMETER
            for names in ([[n] for n in query] if alone else [query]):
                yield (f"{method} {path} ?{'&'.join(names)}={label}",
                       {"method": method, "url": _plain(path) + "?" + "&".join(f"{n}={piece}" for n in names)})
        if method == "GET":
            continue
        media_type, schema = _body_schema(document, operation)
        names = list(schema.get("properties", {})) or ["text"]
        for label, text in BODY_TEXTS.items():
            values = {n: text for n in names}
            if media_type is None or "json" in media_type:
                yield (f"{method} {path} json={label}",
                       {"method": method, "url": _plain(path), "content": json.dumps(values).encode(),
                        "headers": {"Content-Type": "application/json"}})
            if media_type is None or "form" in media_type:
                form = "&".join(f"{quote(n)}={quote(v, errors='surrogatepass')}" for n, v in values.items())
                yield (f"{method} {path} form={label}",
                       {"method": method, "url": _plain(path), "content": form.encode(),
                        "headers": {"Content-Type": "application/x-www-form-urlencoded"}})
        for seed in (b for prefix, bodies in SEED_BODIES.items() if path.startswith(prefix) for b in bodies):
            for where, body in _seeded(seed):
                yield f"{method} {path} seed {where}", body | {"method": method, "url": _plain(path)}
        for label, raw in RAW_BODIES.items():
            kind = ("application/x-www-form-urlencoded" if label.startswith("form")
                    else media_type or "application/json")
            yield (f"{method} {path} raw={label}",
                   {"method": method, "url": _plain(path), "content": raw, "headers": {"Content-Type": kind}})
    for mount in mounts:
        for label, piece in URL_PIECES.items():
            yield f"GET {mount}/ path={label}", {"method": "GET", "url": f"{mount}/{piece}"}


@pytest.mark.parametrize("name", SERVICES)
def test_no_server_error_for_odd_bytes(stack: tuple[anyio.from_thread.BlockingPortal, dict[str, Service]],
                                       name: str) -> None:
    portal, services = stack
    service = services[name]
    service.statuses.clear()
    failures: list[str] = []
    tried = 0
    for label, kwargs in odd_requests(service.document, service.mounts):
        tried += 1
        service.client.build_request(**kwargs)  # the probe itself must be a request a client can send
        try:
            response = send(portal, service, **kwargs)
        except Exception as exc:  # a crash the ASGI transport passes on is a 500 behind a real server
            failures.append(f"{label}: {type(exc).__name__}: {str(exc)[:300]}")
            continue
        if response.status_code >= 500:
            failures.append(f"{label}: {_describe(response)}")
    assert tried > 0
    assert not failures, f"{name}: {len(failures)} of {tried} odd requests answered 5xx:\n" + "\n".join(failures)


DEAD_LETTER_SETTLE_S = 5.0
"""How long (seconds) the last test lets the consumers read what the fuzzed requests published."""


def test_nothing_the_fuzzers_sent_was_dead_lettered(stack: tuple[anyio.from_thread.BlockingPortal,
                                                                 dict[str, Service]]) -> None:
    """What the fuzzers got accepted (Open311 reports, SMS, Meta messages with odd fields) travels on through
    Kafka: no consumer may give up on it (a dead-lettered event is a message dropped). Runs last."""
    portal, services = stack
    time.sleep(DEAD_LETTER_SETTLE_S)
    dead: dict[str, str] = {}
    for name, service in services.items():
        metrics = send(portal, service, method="GET", url="/metrics").text
        line = next((row for row in metrics.splitlines() if row.startswith("omni311_dead_lettered ")), None)
        assert line is not None, f"{name}: /metrics has no omni311_dead_lettered"
        if float(line.split()[1]) != 0:
            dead[name] = line
    assert not dead, f"events dead-lettered: {dead}"
    handled = send(portal, services["case"], method="GET", url="/metrics").text
    assert 'omni311_events_handled_total{event_type="intake.message_received"}' in handled, \
        "the case service read none of the reports the fuzzers got accepted: nothing was checked"
