"""The forwarder's rules without I/O: which endpoints take a case, the POST form (public fields only), the
backoff, what an endpoint's answer means (never a crash on what cannot be read), and the jurisdiction's
`forwarding` as the loader checks it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from services.forwarder.domain import answers
from services.forwarder.domain.answers import Accepted, Answer, Failed
from services.forwarder.domain.forwards import Reading, changed, next_attempt, plan, post_form
from shared.jurisdiction import JurisdictionConfigError, load_jurisdiction
from shared.jurisdiction.forwarding import ForwardingSpec
from shared.open311 import ServiceRequest

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DEMO = Path(__file__).resolve().parents[3] / "jurisdictions" / "demo"


def spec(**endpoint: object) -> ForwardingSpec:
    return ForwardingSpec.model_validate({"endpoints": [{
        "name": "county", "base_url": "https://open311.county.example/v2/", "services": {"pothole": "PH-1"},
        **endpoint}]})


def test_only_mapped_services_are_planned_under_the_endpoints_code() -> None:
    forwarding = spec()
    assert [(p.endpoint, p.external_service_code) for p in plan(forwarding, "pothole")] == [("county", "PH-1")]
    assert plan(forwarding, "graffiti") == [] and plan(forwarding, None) == []
    assert forwarding.endpoints[0].base_url == "https://open311.county.example/v2"


def test_the_form_carries_public_fields_only_and_scrubs_contacts_from_the_description() -> None:
    case = ServiceRequest(service_request_id="DEMO-26-000001", status="open", lat=45.42, long=-75.71,
                          address="1 Elm Street", media_url="https://city.example/m/1.jpg",
                          description="Hole here; text me at 613-555-0123 or ann@resident.test")
    form = post_form(case, spec(jurisdiction_id="county.example").endpoints[0], "PH-1", "k3y",
                     attributes={"size": "large", "when": ["night", "day"]}, region="CA")
    fields = dict(form)
    assert fields["api_key"] == "k3y" and fields["jurisdiction_id"] == "county.example"
    assert (fields["service_code"], fields["lat"], fields["long"]) == ("PH-1", "45.42", "-75.71")
    assert fields["address_string"] == "1 Elm Street" and fields["media_url"] == "https://city.example/m/1.jpg"
    assert "613-555-0123" not in fields["description"] and "ann@resident.test" not in fields["description"]
    assert fields["attribute[size]"] == "large"
    assert [v for k, v in form if k == "attribute[when][]"] == ["night", "day"]
    assert not {"email", "phone", "first_name", "last_name", "device_id"} & set(fields)


def test_a_case_without_a_point_is_sent_with_its_address_and_without_a_key_when_none_is_set() -> None:
    case = ServiceRequest(service_request_id="DEMO-26-000002", status="open", address="Elm & Oak")
    fields = dict(post_form(case, spec().endpoints[0], "PH-1", None))
    assert "api_key" not in fields and "lat" not in fields and fields["address_string"] == "Elm & Oak"


def test_the_backoff_doubles_from_the_base_up_to_the_maximum_and_stops_after_the_last_attempt() -> None:
    after = [next_attempt(T0, a, 100, base_s=30, max_s=3600) for a in (1, 2, 3, 7, 8, 50)]
    assert after == [T0 + timedelta(seconds=s) for s in (30, 60, 120, 1920, 3600, 3600)]
    assert next_attempt(T0, 2, 8, base_s=30, max_s=3600) == T0 + timedelta(seconds=60)
    assert next_attempt(T0, 8, 8, base_s=30, max_s=3600) is None
    with pytest.raises(ValueError):
        next_attempt(T0, 0, 8, base_s=30, max_s=3600)


def test_a_status_report_is_a_change_of_status_notes_or_agency_from_a_fresh_request() -> None:
    assert not changed(Reading(), Reading("open", None, None))
    assert changed(Reading(), Reading("open", "Scheduled", None))
    assert changed(Reading("open", "Scheduled", "Roads"), Reading("closed", "Scheduled", "Roads"))


POST_XML = (b'<?xml version="1.0"?><service_requests><request><service_request_id>638344</service_request_id>'
            b"<service_notice>Soon</service_notice><account_id/></request></service_requests>")


@pytest.mark.parametrize(("answer", "expected"), [
    (Answer(200, POST_XML), Accepted("638344", None, "Soon")),
    (Answer(201, b'[{"token": "abc"}]'), Accepted(None, "abc", None)),
])
def test_an_accepted_post_gives_its_id_or_its_token(answer: Answer, expected: Accepted) -> None:
    fmt = "xml" if answer.body.startswith(b"<") else "json"
    assert answers.read_post_answer(answer, fmt) == expected


@pytest.mark.parametrize(("answer", "retry", "words"), [
    (Answer(None, error="ConnectError"), True, "no answer"),
    (Answer(503, b"down"), True, "HTTP 503"),
    (Answer(429, b""), True, "HTTP 429"),
    (Answer(400, b"<errors><error><code>400</code><description>service_code missing</description></error></errors>"),
     False, "service_code missing"),
    (Answer(403, b"HTTP/1.1 403 Forbidden \n\n<?xml version=\"1.0\"?>\n<error>Invalid api_key</error>"),
     False, "Invalid api_key"),
    (Answer(200, b"<errors><error><code>500</code><description>Try later</description></error></errors>"),
     True, "Try later"),
    (Answer(200, b"<html>maintenance</html>"), True, "unreadable answer"),
    (Answer(200, b"<!DOCTYPE x [<!ENTITY a 'b'>]><service_requests/>"), True, "unreadable answer"),
    (Answer(200, b"[]"), True, "empty list"),
    (Answer(200, b"\xff\xfe not text"), True, "unreadable answer"),
])
def test_a_failed_post_says_why_and_whether_to_retry_and_never_raises(answer: Answer, retry: bool,
                                                                      words: str) -> None:
    fmt = "json" if answer.body.startswith(b"[") else "xml"
    outcome = answers.read_post_answer(answer, fmt)
    assert isinstance(outcome, Failed) and outcome.retry is retry and words in outcome.error, outcome
    assert len(outcome.error) <= 500 and "\n" not in outcome.error


def test_token_and_request_answers_are_read_in_both_formats() -> None:
    assert answers.read_token_answer(Answer(200, b'[{"token": "t", "service_request_id": "9"}]'), "json") == "9"
    assert answers.read_token_answer(Answer(200, b"<service_requests><request><token>t</token>"
                                                 b"<service_request_id/></request></service_requests>"), "xml") is None
    assert answers.read_token_answer(Answer(404, b""), "json") is None
    assert isinstance(answers.read_token_answer(Answer(500, b""), "json"), Failed)
    requests = answers.read_requests_answer(Answer(200, b'[{"service_request_id": "9", "status": "closed", '
                                                         b'"status_notes": "Filled"}]'), "json")
    assert [(r.service_request_id, r.status, r.status_notes) for r in requests] == [("9", "closed", "Filled")]
    assert isinstance(answers.read_requests_answer(Answer(200, b"{not json"), "json"), Failed)


def _demo_with(tmp_path: Path, forwarding: dict) -> Path:
    folder = tmp_path / "demo"
    import shutil

    shutil.copytree(DEMO, folder)
    with (folder / "jurisdiction.yaml").open("a", encoding="utf-8") as f:
        f.write("\n" + yaml.safe_dump({"forwarding": forwarding}))
    return folder


def test_the_loader_resolves_the_statuses_and_demo_forwards_nothing(tmp_path: Path) -> None:
    demo = load_jurisdiction("demo")
    assert demo.forwarding.endpoints == []
    assert (demo.forwarding.closed_status, demo.forwarding.reopened_status) == ("resolved", "in_progress")
    folder = _demo_with(tmp_path, {"endpoints": [{"name": "county", "base_url": "http://c.example",
                                                   "services": {"pothole": "1"}}]})
    j = load_jurisdiction(folder, use_cache=False)
    assert j.forwarding.endpoint("county").poll_interval_s == 300 and j.forwarding.endpoint("county").max_attempts == 8


@pytest.mark.parametrize(("forwarding", "words"), [
    ({"closed_status": "in_progress"}, "must be 'closed'"),
    ({"reopened_status": "resolved"}, "must be 'open'"),
    ({"closed_status": "finished"}, "not a status"),
    ({"endpoints": [{"name": "c", "base_url": "http://c.example", "services": {"moon-dust": "1"}}]}, "moon-dust"),
    ({"endpoints": [{"name": "c", "base_url": "ftp://c.example", "services": {"pothole": "1"}}]}, "base_url"),
    ({"endpoints": [{"name": "c", "base_url": "http://c.example", "services": {"pothole": "1"}},
                    {"name": "c", "base_url": "http://d.example", "services": {"pothole": "2"}}]}, "unique"),
    ({"endpoints": [{"name": "c", "base_url": "http://c.example", "services": {"pothole": "1"},
                     "api_key": "never here"}]}, "api_key"),
])
def test_the_loader_refuses_a_forwarding_it_cannot_apply(tmp_path: Path, forwarding: dict, words: str) -> None:
    with pytest.raises(JurisdictionConfigError, match=words):
        load_jurisdiction(_demo_with(tmp_path, forwarding), use_cache=False)


def test_an_id_longer_than_an_event_can_carry_is_refused_not_crashed_on() -> None:
    outcome = answers.read_post_answer(Answer(200, b'[{"service_request_id": "' + b"9" * 201 + b'"}]'), "json")
    assert isinstance(outcome, Failed) and not outcome.retry and "longer than 200" in outcome.error
