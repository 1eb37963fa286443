"""Every point an SMS or WhatsApp message gives goes through the one location check
(`shared.jurisdiction.point_check`, docs/channels.md "One location check"): a swapped pair is read the right
way round, 0,0 and out-of-range values are no point (the resident is asked where it is), a point outside is
kept as given; the verdict travels as ``attributes.location_check``."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import make_harness, sms_form


def _messages(xml: str) -> list[str]:
    return [m.text or "" for m in ET.fromstring(xml).iter("Message")]


async def test_a_written_point_given_longitude_first_is_swapped_and_the_reason_kept() -> None:
    h = make_harness()
    r = await h.post("/twilio/sms", sms_form(body="Pothole at -75.6972, 45.4215"))
    [env] = h.publisher.published
    assert (env.data["lat"], env.data["long"]) == (45.4215, -75.6972)
    check = env.data["attributes"]["location_check"]
    assert check["verdict"] == "swapped" and check["given"] == {"lat": -75.6972, "long": 45.4215}
    assert "awaiting_location" not in env.data["attributes"] and _messages(r.text) == []


async def test_a_whatsapp_location_at_0_0_is_no_place_and_the_resident_is_asked() -> None:
    h = make_harness()
    r = await h.post("/twilio/whatsapp", sms_form(body="", from_="whatsapp:+15145550123", Latitude="0",
                                                  Longitude="0", MessageType="location"))
    [env] = h.publisher.published
    assert (env.data["lat"], env.data["long"], env.data["address"]) == (None, None, None)
    assert env.data["attributes"]["awaiting_location"] is True
    assert env.data["attributes"]["location_check"]["verdict"] == "placeholder"
    assert "Where exactly" in _messages(r.text)[0]


@pytest.mark.parametrize(("body", "verdict"), [
    ("Pothole at 0.000000, 0.000000", "placeholder"),
    ("Pothole at 95.1234, 200.5678", "out_of_range"),
])
async def test_a_written_point_that_is_no_place_gets_the_location_question(body: str, verdict: str) -> None:
    h = make_harness()
    r = await h.post("/twilio/sms", sms_form(body=body))
    [env] = h.publisher.published
    assert env.data["lat"] is None and env.data["attributes"]["awaiting_location"] is True
    assert env.data["attributes"]["location_check"]["verdict"] == verdict
    assert "Where exactly" in _messages(r.text)[0]


async def test_a_placeholder_point_beside_a_written_address_leaves_the_address() -> None:
    h = make_harness()
    r = await h.post("/twilio/sms", sms_form(body="0.000000, 0.000000 pothole in front of 123 Main St"))
    [env] = h.publisher.published
    assert env.data["address"] == "123 Main St" and env.data["lat"] != 0  # the demo gazetteer's point, not 0,0
    assert env.data["attributes"]["location_check"]["verdict"] == "placeholder"
    assert _messages(r.text) == []


async def test_a_swapped_whatsapp_share_is_corrected_and_a_point_inside_carries_no_check() -> None:
    h = make_harness()
    await h.post("/twilio/whatsapp", sms_form(sid="SM" + "1" * 32, body="", from_="whatsapp:+15145550123",
                                              Latitude="-75.6972", Longitude="45.4215"))
    await h.post("/twilio/sms", sms_form(sid="SM" + "2" * 32, body="Graffiti at 45.4215, -75.6972",
                                         from_="+15145550777"))
    swapped, inside = (e.data for e in h.publisher.published)
    assert (swapped["lat"], swapped["long"]) == (45.4215, -75.6972)
    assert swapped["attributes"]["location_check"]["verdict"] == "swapped"
    assert (inside["lat"], inside["long"]) == (45.4215, -75.6972)
    assert "location_check" not in inside["attributes"]


async def test_a_point_outside_the_city_is_kept_as_given_with_the_verdict() -> None:
    h = make_harness()
    r = await h.post("/twilio/sms", sms_form(body="Pothole at 48.8566, 2.3522"))
    [env] = h.publisher.published
    assert (env.data["lat"], env.data["long"]) == (48.8566, 2.3522)
    assert env.data["attributes"]["location_check"]["verdict"] == "outside"
    assert _messages(r.text) == []


@pytest.mark.parametrize(("latitude", "longitude"), [("", ""), ("45.4215", "x"), ("45,4215", "-75,6972"), ("0x10", "0")])
async def test_a_whatsapp_location_whose_point_cannot_be_read_is_kept_and_the_resident_asked(
        latitude: str, longitude: str) -> None:
    h = make_harness()
    r = await h.post("/twilio/whatsapp", sms_form(body="", from_="whatsapp:+15145550123", Latitude=latitude,
                                                  Longitude=longitude, MessageType="location"))
    [env] = h.publisher.published
    assert env.data["lat"] is None and env.data["attributes"]["awaiting_location"] is True
    assert env.data["attributes"]["location_check"]["verdict"] == "out_of_range"
    assert "Where exactly" in _messages(r.text)[0]


@pytest.mark.parametrize("body", [
    "Nid-de-poule au 45,4215 -75,6972", "Nid-de-poule au 45,4215; -75,6972", "Pothole at 45.4215N 75.6972W",
    "Pothole at 45.4215 N, 75.6972 W", "Pothole at N45.4215 W75.6972", "nid-de-poule 45,4215 N 75,6972 O",
    "Pothole at 45°25'17.4\"N 75°41'49.9\"W", "Pothole at 45° 25.29' N, 75° 41.83' W", "Pothole at 75.6972W 45.4215N",
])
async def test_a_point_written_with_decimal_commas_hemispheres_or_minutes_is_read(body: str) -> None:
    h = make_harness()
    r = await h.post("/twilio/sms", sms_form(body=body))
    [env] = h.publisher.published
    assert env.data["lat"] == pytest.approx(45.4215, abs=1e-3) and env.data["long"] == pytest.approx(-75.6972, abs=1e-3)
    assert _messages(r.text) == []


@pytest.mark.parametrize("body", ["We counted 2,500 3,000 potholes", "Fee 12,500 / 15,000 dollars", "3 N 4 W"])
async def test_numbers_that_only_look_like_such_a_point_are_not_a_place(body: str) -> None:
    h = make_harness()
    await h.post("/twilio/sms", sms_form(body=body))
    [env] = h.publisher.published
    assert env.data["lat"] is None and "location_check" not in env.data["attributes"]
