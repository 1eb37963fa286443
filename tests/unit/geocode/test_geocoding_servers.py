"""Nominatim and Pelias adapters against a local fake that replays real recorded responses: confidence,
bounds, the gazetteer answering when the server is down, slow, failing or finds nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from shared.geocode import CONFIDENCE, Gazetteer, NominatimGeocoder, PeliasGeocoder
from shared.jurisdiction.loader import repo_root
from support.fake_geocoder import FakeGeocoderServer, fake_geocoder
from support.infra import free_port

LONDON = (51.28, -0.51, 51.69, 0.33)  # south, west, north, east
BRUSSELS = (50.76, 4.24, 50.92, 4.48)


@dataclass(frozen=True)
class Row:
    source_id: str
    address_string: str
    lat: float
    long: float


@pytest.fixture(scope="module")
def server() -> Iterator[FakeGeocoderServer]:
    with fake_geocoder() as running:
        yield running


@pytest.fixture
def fresh(server: FakeGeocoderServer) -> FakeGeocoderServer:
    server.delay_s, server.status = 0.0, 200
    server.requests.clear()
    return server


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.build([Row("1", "242 ACKLAM ROAD", 51.5, -0.2), Row("2", "1 PLACE DES PALAIS", 50.84, 4.36)])


async def test_pelias_answers_with_its_confidence_and_match_type(fresh: FakeGeocoderServer) -> None:
    geocoder = PeliasGeocoder(fresh.url, bounds=LONDON, country_codes=["gb"])
    answer = await geocoder.geocode("242 Acklam Road, London, United Kingdom")
    assert (answer.lat, answer.long) == (51.521315, -0.202887)
    assert (answer.kind, answer.source, answer.matched, answer.confidence) == ("address", "pelias", "242 Acklam Road", 1.0)
    path, params = fresh.requests[-1]
    assert path == "/v1/search" and params["text"] == "242 Acklam Road, London, United Kingdom"
    assert params["boundary.country"] == "GB" and float(params["boundary.rect.min_lat"]) == 51.28


async def test_pelias_answer_for_an_abbreviated_street(fresh: FakeGeocoderServer) -> None:
    answer = await PeliasGeocoder(fresh.url).geocode("10 Downing St, London, UK")
    assert answer.matched == "10 Downing Street" and answer.kind == "address"


async def test_nominatim_confidence_comes_from_rank_and_house_number(fresh: FakeGeocoderServer) -> None:
    geocoder = NominatimGeocoder(fresh.url, bounds=BRUSSELS, country_codes=["be"])
    answer = await geocoder.geocode("palais royal", language="fr")
    assert (answer.lat, answer.long) == (50.84199135, 4.36198962992288)  # the more important of two rank-30 hits
    assert answer.kind == "address" and answer.source == "nominatim"
    assert 0.9 <= answer.confidence <= 0.95
    path, params = fresh.requests[-1]
    assert path == "/search" and params["q"] == "palais royal" and params["countrycodes"] == "be"
    assert params["viewbox"] == "4.24,50.92,4.48,50.76" and params["bounded"] == "1"
    assert params["accept-language"] == "fr" and params["format"] == "jsonv2"


async def test_an_answer_outside_the_bounds_is_not_taken(fresh: FakeGeocoderServer) -> None:
    # The recorded hit for "italia" is a stream in Antarctica.
    assert await NominatimGeocoder(fresh.url, bounds=BRUSSELS).geocode("italia") is None
    unbounded = await NominatimGeocoder(fresh.url).geocode("italia")
    assert unbounded.kind == "place" and unbounded.confidence < 0.5


async def test_nothing_found_is_answered_by_the_gazetteer(fresh: FakeGeocoderServer, gazetteer: Gazetteer) -> None:
    for adapter in (NominatimGeocoder, PeliasGeocoder):
        geocoder = adapter(fresh.url, fallback=gazetteer)
        answer = await geocoder.geocode("a broken bench at 242 Acklam Road")
        assert (answer.source, answer.matched, answer.confidence) == ("gazetteer", "242 ACKLAM RD", CONFIDENCE["address"])
        assert fresh.requests[-1][1].get("q", fresh.requests[-1][1].get("text")) == "242 Acklam Road"


async def test_a_server_that_is_down_is_answered_by_the_gazetteer(gazetteer: Gazetteer) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    for adapter in (NominatimGeocoder, PeliasGeocoder):
        answer = await adapter(down, fallback=gazetteer).geocode("242 Acklam Road")
        assert answer.source == "gazetteer"
        assert await adapter(down).geocode("242 Acklam Road") is None


async def test_a_server_error_is_answered_by_the_gazetteer(fresh: FakeGeocoderServer, gazetteer: Gazetteer) -> None:
    fresh.status = 503
    answer = await PeliasGeocoder(fresh.url, fallback=gazetteer).geocode("242 Acklam Road, London, United Kingdom")
    assert answer.source == "gazetteer"


async def test_a_slow_server_times_out_and_the_gazetteer_answers(fresh: FakeGeocoderServer, gazetteer: Gazetteer) -> None:
    fresh.delay_s = 1.5
    started = time.monotonic()
    answer = await NominatimGeocoder(fresh.url, timeout_s=0.3, fallback=gazetteer).geocode("1 Place des Palais")
    assert time.monotonic() - started < 1.2
    assert answer.source == "gazetteer" and answer.matched == "1 PALAIS PL"


def test_the_fixtures_are_documented() -> None:
    folder = repo_root() / "tests" / "fixtures" / "geocoding"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    for body in folder.glob("*.json"):
        if body.name != "index.json":
            assert body.name in readme


def _boston_with(geocoding: dict) -> object:
    import yaml

    from shared.jurisdiction import JurisdictionConfig, build_jurisdiction, jurisdiction_path, shared_data_root

    path = jurisdiction_path("boston")
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["geocoding"] = geocoding
    return build_jurisdiction(JurisdictionConfig.model_validate(document), base_dir=path.parent,
                              data_root=shared_data_root(), source=str(path))


async def test_geocoder_for_puts_the_configured_server_in_front_of_the_gazetteer(
        fresh: FakeGeocoderServer, require_shared_data: None) -> None:
    from shared.geocode import geocoder_for

    small = {"gazetteer": [{"file": "311_records/qsv_boston311-100.csv"}], "timeout_s": 0.5, "country_codes": ["us"]}
    gazetteer = geocoder_for(_boston_with({"provider": "gazetteer", **small}))
    assert isinstance(gazetteer, Gazetteer) and gazetteer.counts["addresses"] > 50
    assert gazetteer.counts["places"] == 22  # the wards
    pelias = geocoder_for(_boston_with({"provider": "pelias", "url": fresh.url, **small}))
    assert isinstance(pelias, PeliasGeocoder)
    assert pelias.bounds == (42.22, -71.20, 42.40, -70.98) and pelias.timeout_s == 0.5
    # London is outside Boston's bounds: the recorded answer is not taken, the gazetteer has no such street.
    assert await pelias.geocode("242 Acklam Road, London, United Kingdom") is None
    answer = await pelias.geocode("There is a pothole in front of 850 South St")
    assert answer.source == "gazetteer" and answer.matched == "850 SOUTH ST"
    assert fresh.requests[-1][1]["boundary.country"] == "US"


def _serving(body: object) -> httpx.AsyncClient:
    """A client whose server answers `body` (bytes as they are, an async iterator of chunks, else JSON)."""
    def answer(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes) or hasattr(body, "__aiter__"):
            return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})
        return httpx.Response(200, json=body)
    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(("adapter", "body"), [
    (NominatimGeocoder, b"<html><body>Bad gateway</body></html>"),
    (NominatimGeocoder, b"[{"),
    (NominatimGeocoder, b"[" * 100_000 + b"]" * 100_000),  # deeper than the JSON decoder recurses
    (NominatimGeocoder, [{"lat": "NaN", "lon": "NaN", "place_rank": 30}]),
    (NominatimGeocoder, [{"lat": "1", "lon": "1", "place_rank": 30, "address": ["not", "a", "mapping"]}]),
    (PeliasGeocoder, {"features": [{"geometry": {"coordinates": [1, 1]}, "properties": ["not a mapping"]}]}),
    (PeliasGeocoder, {"features": [{"geometry": {"coordinates": []}}]}),
    (PeliasGeocoder, {"features": [{"geometry": {"coordinates": [1, 1]}, "properties": {"confidence": "NaN"}}]}),
])
async def test_an_answer_of_another_shape_is_answered_by_the_gazetteer(adapter: type, body: object,
                                                                     gazetteer: Gazetteer) -> None:
    async with _serving(body) as client:
        answer = await adapter("http://geocoder", client=client, fallback=gazetteer).geocode("242 Acklam Road")
    assert answer.source == "gazetteer"


async def test_a_body_trickled_byte_by_byte_is_cut_at_the_timeout(gazetteer: Gazetteer) -> None:
    # httpx bounds each read: a server sending a byte now and then held the caller for as long as it liked.
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(100):
            await asyncio.sleep(0.1)
            yield b" "

    started = time.monotonic()
    async with _serving(trickle()) as client:
        answer = await NominatimGeocoder("http://geocoder", client=client, timeout_s=0.3,
                                         fallback=gazetteer).geocode("242 Acklam Road")
    assert time.monotonic() - started < 2.0
    assert answer.source == "gazetteer"


@pytest.mark.parametrize(("adapter", "body", "matched"), [
    (NominatimGeocoder, [{"lat": "51.5", "lon": "-0.2", "place_rank": 30}], "51.500000, -0.200000"),
    (PeliasGeocoder, {"features": [{"geometry": {"coordinates": [-0.2, 51.5]}, "properties": {"confidence": 0.9}}]},
     "51.500000, -0.200000"),
    (PeliasGeocoder, {"features": [{"geometry": {"coordinates": [-0.2, 51.5]},
                                    "properties": {"name": "242 Acklam\x0b Road\x00\u202e"}}]}, "242 Acklam Road"),
])
async def test_the_matched_form_is_the_servers_printable_name_never_the_residents_text(adapter: type, body: object,
                                                                                     matched: str) -> None:
    # The matched form is public (Open311 extended_attributes): with no name from the server it was the
    # text sent, here a phone number and a mail address; a control character made the XML unrenderable.
    async with _serving(body) as client:
        answer = await adapter("http://geocoder", client=client).geocode("call 617-555-0100 or jo@example.org")
    assert answer.matched == matched


async def test_an_answer_larger_than_the_limit_is_not_read_whole(gazetteer: Gazetteer) -> None:
    # The body was read whole into memory, whatever its size.
    from shared.geocode.servers import MAX_RESPONSE_BYTES  # noqa: PLC0415

    sent = 0

    async def huge() -> AsyncIterator[bytes]:  # 10 MB of valid JSON
        nonlocal sent
        yield b'[{"lat": "51.5", "lon": "-0.2", "display_name": "'
        for _ in range(160):
            sent += 65_536
            yield b"a" * 65_536
        yield b'"}]'

    async with _serving(huge()) as client:
        answer = await NominatimGeocoder("http://geocoder", client=client, fallback=gazetteer).geocode("242 Acklam Road")
    assert answer.source == "gazetteer"
    assert sent <= MAX_RESPONSE_BYTES + 2 * 65_536


async def test_one_http_client_serves_every_lookup_until_aclose(
        fresh: FakeGeocoderServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # geocoder_for never passes a client: a new httpx.AsyncClient (a new connection pool) was opened for
    # every lookup.
    import shared.geocode.servers as servers  # noqa: PLC0415

    opened: list[httpx.AsyncClient] = []

    class Counting(httpx.AsyncClient):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            opened.append(self)

    monkeypatch.setattr(servers.httpx, "AsyncClient", Counting)
    geocoder = PeliasGeocoder(fresh.url)
    for _ in range(3):
        assert (await geocoder.geocode("10 Downing St, London, UK")).matched == "10 Downing Street"
    assert len(opened) == 1 and not opened[0].is_closed
    await geocoder.aclose()
    assert opened[0].is_closed
    await geocoder.aclose()  # twice is harmless
    assert (await geocoder.geocode("10 Downing St, London, UK")).source == "pelias"  # a new client after close
    assert len(opened) == 2
    await geocoder.aclose()
