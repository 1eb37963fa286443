"""The Open311 GeoReport v2 routes of intake_web through the real app (ASGI) with a fake publisher and a fake
case API: what a POST publishes, what is refused before anything is published or asked, and a case API
that does not answer (503 with Retry-After)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiokafka.errors import KafkaTimeoutError

from services.intake_web.app import create_app
from services.intake_web.domain.intake import event_id_for
from shared.events import MessageReceived
from shared.intake import CaseApiUnavailable, KafkaIntakePublisher
from shared.open311 import EXTENDED_ATTRIBUTE_KEYS, ExtendedAttributes, ServiceRequest, parse_requests
from shared.settings import Settings
from web_fakes import FakePublisher, demo

NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
FORM = {"api_key": "demo-key", "service_code": "pothole", "lat": "45.42", "long": "-75.69",
        "description": "Deep pothole", "email": "ana@example.test", "attribute[size]": "large"}
CASE = ServiceRequest(service_request_id="DEM-2026-000042", status="open", service_code="pothole",
                      requested_datetime=NOW)
FACTS = ExtendedAttributes(district="centre", district_name="Centre", queue="roads", rule_id="r1",
                           category_source="keywords", classifier_method="model", classifier_probability=0.8,
                           model_version="demo-0123456789ab",
                           suggestions=[{"service_code": "pothole", "probability": 0.8}],  # type: ignore[list-item]
                           location_status="placed", location_source="gazetteer", location_confidence=0.9,
                           location_matched="1200 MAIN ST")


class FakeCaseApi:
    """The case API with one case; `down`: every read raises `CaseApiUnavailable`."""

    def __init__(self, down: bool = False) -> None:
        self.down = down
        self.asked: list[tuple[str, Any]] = []

    def _ask(self, what: str, arg: Any) -> None:
        self.asked.append((what, arg))
        if self.down:
            raise CaseApiUnavailable("case API answered 503")

    async def request(self, service_request_id: str, *, extensions: bool = False) -> ServiceRequest | None:
        self._ask("request", (service_request_id, extensions))
        if service_request_id != CASE.service_request_id:
            return None
        return CASE.model_copy(update={"extended_attributes": FACTS}) if extensions else CASE

    async def requests(self, **filters: Any) -> list[ServiceRequest]:
        self._ask("requests", filters)
        return [CASE.model_copy(update={"extended_attributes": FACTS}) if filters.get("extensions") else CASE]

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        self._ask("token", (token, channel))
        return CASE.service_request_id if token == "tok-1" else None

    async def earlier_cases(self, contact_key: str, *, token: str | None = None) -> list[Any]:
        self._ask("earlier_cases", contact_key)
        return []


def make(down: bool = False) -> tuple[httpx.AsyncClient, FakePublisher, FakeCaseApi]:
    publisher, case_api = FakePublisher(), FakeCaseApi(down)
    app = create_app(Settings(jurisdiction="demo"), jurisdiction=demo(),
                     publisher=publisher, case_api=case_api, clock=lambda: NOW)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake-web.internal"), \
        publisher, case_api


async def test_a_post_publishes_one_open311_intake_event_and_answers_with_its_token() -> None:
    web, publisher, _ = make()
    async with web:
        r = await web.post("/requests.json", data=FORM, headers={"content-language": "fr"})
    assert r.status_code == 200, r.text
    [env] = publisher.published
    msg = env.payload(MessageReceived)
    assert [item["token"] for item in r.json()] == [msg.channel_message_id]
    assert env.event_type == "intake.message_received" and env.producer == "intake_web"
    assert env.event_id == event_id_for(msg.channel_message_id) and env.subject == msg.contact_key
    assert (msg.channel, msg.service_code, msg.language, msg.requested_datetime) == ("open311", "pothole", "fr", NOW)
    assert msg.pii.email == "ana@example.test" and "ana" not in msg.contact_key


async def test_a_retried_post_with_its_idempotency_key_is_the_same_token_and_event() -> None:
    web, publisher, _ = make()
    async with web:
        a = await web.post("/requests.json", data=FORM, headers={"idempotency-key": "k-1"})
        b = await web.post("/requests.xml", data=FORM, headers={"idempotency-key": "k-1"})
    assert a.json()[0]["token"] in b.text
    assert publisher.published[0].event_id == publisher.published[1].event_id


async def test_a_post_without_idempotency_key_is_tokened_with_the_fresh_id_the_service_layer_passes_in() -> None:
    publisher, ids = FakePublisher(), iter([UUID(int=7), UUID(int=8)])
    app = create_app(Settings(jurisdiction="demo"), jurisdiction=demo(), publisher=publisher,
                     case_api=FakeCaseApi(), clock=lambda: NOW)
    app.state.deps.new_id = lambda: next(ids)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake-web.internal") as web:
        a = await web.post("/requests.json", data=FORM)
        b = await web.post("/requests.json", data=FORM)
    assert [a.json()[0]["token"], b.json()[0]["token"]] == [str(UUID(int=7)), str(UUID(int=8))]
    assert [env.payload(MessageReceived).channel_message_id for env in publisher.published] == \
        [str(UUID(int=7)), str(UUID(int=8))]


async def test_a_report_queued_offline_keeps_its_requested_datetime() -> None:
    web, publisher, _ = make()
    async with web:
        r = await web.post("/requests.json", data={**FORM, "requested_datetime": "2026-11-28T09:30:00-05:00"})
    assert r.status_code == 200
    msg = publisher.published[0].payload(MessageReceived)
    assert msg.requested_datetime == datetime(2026, 11, 28, 14, 30, tzinfo=UTC) and msg.received_at == NOW


@pytest.mark.parametrize(("form", "status", "words"), [
    ({**FORM, "api_key": "wrong"}, 403, "a valid api_key is required"),
    ({k: v for k, v in FORM.items() if k != "api_key"}, 403, "a valid api_key is required"),
    ({**FORM, "service_code": "unicorns"}, 400, "service_code unicorns is not offered here; see GET /services.xml"),
    ({**FORM, "lat": "0", "long": "0"}, 400, "0,0"),
    ({**FORM, "lat": "95"}, 400, "lat"),
    ({**FORM, "requested_datetime": "2027-01-01T00:00:00Z"}, 400, "not in the future and not before 1990"),
    ({**FORM, "requested_datetime": "2026-11-28T09:30:00"}, 400, "requested_datetime: "),
], ids=["wrong-key", "no-key", "unknown-service", "zero-zero", "bad-lat", "future", "no-offset"])
async def test_a_refused_post_gets_an_open311_error_and_publishes_nothing(form: dict[str, str], status: int,
                                                                         words: str) -> None:
    web, publisher, _ = make()
    async with web:
        r = await web.post("/requests.xml", data=form)
    assert r.status_code == status and r.headers["content-type"] == "text/xml; charset=utf-8"
    assert b"<errors>" in r.content and words.encode() in r.content, r.text
    assert publisher.published == []


async def test_the_service_list_and_definitions_are_the_jurisdictions() -> None:
    web, _, _ = make()
    async with web:
        services = await web.get("/services.json")
        known = await web.get("/services/pothole.xml")
        unknown = await web.get("/services/unicorns.json")
        root = await web.get("/", follow_redirects=False)
        docs = await web.get("/docs")
    assert {s["service_code"] for s in services.json()} == {sv.service_code for sv in demo().services}
    assert known.status_code == 200 and b"pothole" in known.content
    assert unknown.status_code == 404 and unknown.json()[0]["code"] == 404
    assert root.status_code == 200 and "text/html" in root.headers["content-type"]  # the resident portal's home
    assert docs.status_code == 200


async def test_a_portal_token_is_looked_up_on_the_web_channel() -> None:
    web, _, case_api = make()
    async with web:
        await web.get("/tokens/web-6a1f.json")
        await web.get("/tokens/3f0c2b9e.json")
    assert [a for a in case_api.asked if a[0] == "token"] == [("token", ("web-6a1f", "web")),
                                                              ("token", ("3f0c2b9e", "open311"))]


async def test_reads_come_from_the_case_api() -> None:
    web, _, case_api = make()
    async with web:
        token = await web.get("/tokens/tok-1.json")
        waiting = await web.get("/tokens/tok-2.xml")
        one = await web.get("/requests/DEM-2026-000042.xml")
        missing = await web.get("/requests/NOPE-00-000000.json")
        listed = await web.get("/requests.json", params={"status": "open", "start_date": "2026-11-01T00:00:00-05:00",
                                                         "end_date": "2026-11-29T00:00:00Z"})
    assert [(t["token"], t["service_request_id"]) for t in token.json()] == [("tok-1", "DEM-2026-000042")]
    assert waiting.status_code == 200 and b"<token>tok-2</token>" in waiting.content
    assert parse_requests(one.content, "xml") == [CASE]
    assert missing.status_code == 404 and missing.json()[0]["description"] == \
        "service_request_id NOPE-00-000000 not found"
    assert parse_requests(listed.content, "json") == [CASE]
    assert case_api.asked[-1] == ("requests", {"service_request_id": None, "service_code": None, "status": "open",
                                               "start_date": datetime(2026, 11, 1, 5, tzinfo=UTC),
                                               "end_date": datetime(2026, 11, 29, tzinfo=UTC),
                                               "extensions": False})
    assert ("token", ("tok-1", "open311")) in case_api.asked


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_extensions_true_adds_the_routing_facts_and_nothing_else_changes(fmt: str) -> None:
    web, _, case_api = make()
    async with web:
        plain_one = await web.get(f"/requests/DEM-2026-000042.{fmt}")
        plain_list = await web.get(f"/requests.{fmt}", params={"extensions": "false"})
        one = await web.get(f"/requests/DEM-2026-000042.{fmt}", params={"extensions": "true"})
        listed = await web.get(f"/requests.{fmt}", params={"extensions": "TRUE", "status": "open"})
    assert b"extended_attributes" not in plain_one.content + plain_list.content
    assert parse_requests(plain_one.content, fmt) == parse_requests(plain_list.content, fmt) == [CASE]  # type: ignore[arg-type]
    for r in (one, listed):
        [found] = parse_requests(r.content, fmt)  # type: ignore[arg-type]
        assert found.extended_attributes == FACTS
        assert tuple(found.extended_attributes.model_dump()) == EXTENDED_ATTRIBUTE_KEYS
    if fmt == "xml":
        assert b"<extended_attributes>" in one.content and b"<suggestion>" in one.content
    assert ("request", ("DEM-2026-000042", True)) in case_api.asked
    assert case_api.asked[-1][1]["extensions"] is True


async def test_an_extensions_value_that_is_not_a_boolean_is_400_and_nothing_is_asked() -> None:
    web, _, case_api = make()
    async with web:
        one = await web.get("/requests/DEM-2026-000042.json", params={"extensions": "yes please"})
        many = await web.get("/requests.xml", params={"extensions": "2"})
    assert one.status_code == many.status_code == 400
    assert one.json()[0]["description"] == "extensions must be true or false"
    assert case_api.asked == []


@pytest.mark.parametrize(("params", "words"), [
    ({"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"}, "may not span more than 90 days"),
    ({"status": "pending"}, "status must be open, closed or both"),
    ({"start_date": "2026-01-01"}, "start_date/end_date must be ISO 8601 with offset"),
], ids=["span", "status", "no-offset"])
async def test_a_query_outside_the_open311_limits_is_refused_before_the_case_api_is_asked(
        params: dict[str, str], words: str) -> None:
    web, _, case_api = make()
    async with web:
        r = await web.get("/requests.json", params=params)
    assert r.status_code == 400 and words in r.json()[0]["description"]
    assert case_api.asked == []


@pytest.mark.parametrize("path", ["/tokens/tok-1", "/requests/DEM-2026-000042", "/requests"])
@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_reads_answer_503_with_retry_after_while_the_case_api_is_down(path: str, fmt: str) -> None:
    web, _, _ = make(down=True)
    async with web:
        r = await web.get(f"{path}.{fmt}")
    assert r.status_code == 503 and r.headers["retry-after"] == "5"
    assert r.headers["content-type"].startswith("application/json" if fmt == "json" else "text/xml")
    assert b"case lookups are unavailable for a moment; please retry" in r.content


async def test_the_real_publisher_takes_the_topic_from_the_registry_and_counts_what_it_published() -> None:
    app = create_app(Settings(jurisdiction="demo", topic_prefix="t-9."), jurisdiction=demo(),
                     case_api=FakeCaseApi())
    publisher = app.state.deps.publisher
    assert isinstance(publisher, KafkaIntakePublisher)
    sent: list[dict[str, Any]] = []

    class Broker:
        async def publish(self, data: bytes, **kwargs: Any) -> None:
            sent.append(kwargs)

    publisher.broker = Broker()  # type: ignore[assignment]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake-web.internal") as web:
        r = await web.post("/requests.json", data=FORM)
        metrics = await web.get("/metrics")
    assert r.status_code == 200
    [kwargs] = sent
    assert kwargs["topic"] == "t-9.intake.messages"
    assert 'omni311_events_handled_total{event_type="intake.message_received"} 1.0' in metrics.text


class DownPublisher(FakePublisher):
    """Kafka that does not acknowledge."""

    async def publish(self, env: Any) -> None:
        raise KafkaTimeoutError()


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_a_post_kafka_does_not_take_is_a_503_to_retry_not_a_500(fmt: str) -> None:
    app = create_app(Settings(jurisdiction="demo"), jurisdiction=demo(), publisher=DownPublisher(),
                     case_api=FakeCaseApi(False), clock=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake-web.internal") as web:
        r = await web.post(f"/requests.{fmt}", data=FORM)
    assert r.status_code == 503 and r.headers["retry-after"].isdigit()
    assert b"send it again" in r.content
