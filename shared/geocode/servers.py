"""Geocoding servers behind the `Geocoder` interface: Nominatim and Pelias HTTP APIs (httpx), each
with the gazetteer as its fallback, and `geocoder_for(jurisdiction)`."""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
import threading
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from shared.geocode.answer import GeocodeAnswer, Geocoder, PlaceKind
from shared.geocode.extract import extract_place

if TYPE_CHECKING:
    from shared.jurisdiction import Jurisdiction

__all__ = ["NominatimGeocoder", "PeliasGeocoder", "geocoder_for"]

log = structlog.get_logger(__name__)

USER_AGENT = "omni311-geocoder/1 (+https://github.com/omni311)"
MAX_RESPONSE_BYTES = 2_000_000
"""The largest geocoding answer read (bytes); five hits are a few kilobytes."""
Bounds = tuple[float, float, float, float]
"""(south, west, north, east) in WGS84 degrees."""


def _place_text(text: str, language: str | None) -> str | None:
    """What is sent to the server: the whole text when it is an address (it starts with the place, and
    the server reads the locality after it too), else the place picked out of free text, else short
    text as it is (a bare name)."""
    short = " ".join(text.split())
    place = extract_place(short, language)
    if place is not None:
        return short if short.startswith(place) and len(short) <= 200 else place
    return short if short and len(short) <= 120 else None


def _public_form(named: Any, lat: float, long: float) -> str:
    """The server's name for its answer as the matched form: printable text only (no control, format or
    surrogate characters, which XML 1.0 cannot carry), at most 200 characters; the point itself
    (``"42.360100, -71.058900"``) when the server gives no name. Never the resident's text: it may hold
    contact data, and the matched form is public (Open311 ``extended_attributes``)."""
    text = "".join(c for c in str(named or "") if not unicodedata.category(c).startswith("C"))
    text = " ".join(text.split())[:200].strip()
    return text or f"{lat:.6f}, {long:.6f}"


class _ServerGeocoder(ABC):
    """What both adapters share: the query, the bounds, the timeout and the fallback."""

    source = "server"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 2.0,
        bounds: Bounds | None = None,
        country_codes: Sequence[str] = (),
        fallback: Geocoder | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        """``url``: the server's base URL. ``timeout_s``: bound on one call (seconds). ``bounds``:
        (south, west, north, east) the search is limited to and answers must fall in. ``country_codes``:
        ISO 3166-1 alpha-2. ``fallback`` answers when the server fails or finds nothing. ``client``:
        an httpx client to use, which the caller closes; without one, the geocoder opens its own on the
        first lookup, keeps it (one connection pool for every lookup) and closes it in :meth:`aclose`."""
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.bounds = bounds
        self.country_codes = [c.lower() for c in country_codes]
        self.fallback = fallback
        self._client = client
        self._own: httpx.AsyncClient | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None

    async def geocode(self, text: str, *, language: str | None = None) -> GeocodeAnswer | None:
        """`Geocoder.geocode`: the server's best answer inside the bounds; the fallback's answer when the
        server is down, slow (over ``timeout_s`` for the whole call, a body trickled byte by byte too),
        answers an error or an answer of another shape (HTML, invalid or too deeply nested JSON, a
        point that is not a number) or finds nothing."""
        place = _place_text(text, language)
        if place is None:
            return None
        try:
            # httpx's timeout bounds each read, not the whole call: a server sending a byte a second
            # would hold the caller for as long as it likes.
            body = await asyncio.wait_for(self._get(self._path, self._params(place, language)), self.timeout_s)
            answer = self._best(body, place)
        except (httpx.HTTPError, TimeoutError, asyncio.TimeoutError, ValueError, KeyError, TypeError,
                AttributeError, IndexError, RecursionError) as exc:
            log.warning("geocoder.server_failed", source=self.source, error=type(exc).__name__)
            answer = None
        if answer is None and self.fallback is not None:
            return await self.fallback.geocode(place, language=language)
        return answer

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        return await self._read(self._http(), f"{self.url}{path}", params, headers)

    def _http(self) -> httpx.AsyncClient:
        """The given client, else this geocoder's own, opened on first use. A client's connections
        belong to the event loop that opened them: one opened in another loop (gone, or a test's) is
        left for a new one."""
        if self._client is not None:
            return self._client
        loop = asyncio.get_running_loop()
        if self._own is None or self._own.is_closed or self._own_loop is not loop:
            self._own, self._own_loop = httpx.AsyncClient(timeout=self.timeout_s), loop
        return self._own

    async def aclose(self) -> None:
        """Close the client this geocoder opened (not one given to it); called at shutdown by the router's
        and the SMS app's lifespans. A later lookup opens a new one."""
        own, self._own, self._own_loop = self._own, None, None
        if own is not None and not own.is_closed:
            await own.aclose()

    async def _read(self, client: httpx.AsyncClient, url: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
        """The JSON body, read up to `MAX_RESPONSE_BYTES` (a search answers a few kilobytes).

        Raises:
            httpx.HTTPError: an error status or a transport failure. ValueError: a larger body, or not JSON.
        """
        async with client.stream("GET", url, params=params, headers=headers, timeout=self.timeout_s) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise ValueError(f"a geocoding answer is at most {MAX_RESPONSE_BYTES} bytes")
        return json.loads(bytes(body))

    def _inside(self, lat: float, long: float) -> bool:
        if self.bounds is None:
            return True
        south, west, north, east = self.bounds
        return south <= lat <= north and west <= long <= east

    # Defined by each adapter: the search path, its query parameters, and how its answer is read.
    _path = ""

    @abstractmethod
    def _params(self, place: str, language: str | None) -> dict[str, Any]:
        """The search's query parameters for ``place``."""

    @abstractmethod
    def _best(self, body: Any, place: str) -> GeocodeAnswer | None:
        """The best answer in the server's JSON ``body``, or None."""


class NominatimGeocoder(_ServerGeocoder):
    """Nominatim's ``/search`` API (https://nominatim.org/release-docs/latest/api/Search/), ``format=jsonv2``.

    Confidence comes from what was found: ``place_rank`` 30 with a house number (an address) is surest,
    rank 26–27 (a street) is weak, anything coarser (a suburb, a city) weaker; ``importance`` breaks
    ties between answers of one rank.
    """

    source = "nominatim"
    _path = "/search"

    def _params(self, place: str, language: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"q": place, "format": "jsonv2", "addressdetails": 1, "limit": 5}
        if self.country_codes:
            params["countrycodes"] = ",".join(self.country_codes)
        if self.bounds is not None:
            south, west, north, east = self.bounds
            params["viewbox"] = f"{west},{north},{east},{south}"
            params["bounded"] = 1
        if language:
            params["accept-language"] = language
        return params

    def _best(self, body: Any, place: str) -> GeocodeAnswer | None:
        if not isinstance(body, list):
            raise ValueError("a Nominatim search answers a JSON array")
        answers = []
        for hit in body:
            lat, long = float(hit["lat"]), float(hit["lon"])
            if not self._inside(lat, long):
                continue
            confidence, kind = _nominatim_confidence(hit)
            parts = str(hit.get("display_name") or "").split(",")
            answers.append(GeocodeAnswer(
                lat=lat, long=long, confidence=confidence, kind=kind, source=self.source, query=place,
                matched=_public_form(", ".join(part.strip() for part in parts[:2] if part.strip()), lat, long),
            ))
        return max(answers, key=lambda a: a.confidence, default=None)


def _nominatim_confidence(hit: dict[str, Any]) -> tuple[float, PlaceKind]:
    rank = int(hit.get("place_rank") or 0)
    importance = min(max(float(hit.get("importance") or 0.0), 0.0), 1.0)
    address = hit.get("address") or {}
    category = hit.get("category") or hit.get("class")
    if rank >= 30 and address.get("house_number"):
        base, kind = 0.9, "address"
    elif rank >= 28:
        base, kind = 0.75, "place"
    elif rank >= 26 or category == "highway":
        base, kind = 0.55, "street"
    elif rank >= 17:
        base, kind = 0.4, "place"
    else:
        base, kind = 0.2, "place"
    return round(min(1.0, base + 0.05 * importance), 4), kind  # type: ignore[return-value]


class PeliasGeocoder(_ServerGeocoder):
    """Pelias's ``/v1/search`` API (https://github.com/pelias/documentation/blob/master/search.md).

    Confidence is Pelias's own ``confidence`` times a factor for ``match_type``: ``exact`` 1,
    ``interpolated`` 0.9, ``fallback`` (Pelias answered something coarser than asked) 0.6.
    """

    source = "pelias"
    _path = "/v1/search"
    _MATCH = {"exact": 1.0, "interpolated": 0.9, "fallback": 0.6}
    _KINDS: dict[str, PlaceKind] = {"address": "address", "street": "street", "intersection": "intersection"}

    def _params(self, place: str, language: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {"text": place, "size": 5}
        if self.country_codes:
            params["boundary.country"] = ",".join(c.upper() for c in self.country_codes)
        if self.bounds is not None:
            south, west, north, east = self.bounds
            params.update({"boundary.rect.min_lat": south, "boundary.rect.min_lon": west,
                           "boundary.rect.max_lat": north, "boundary.rect.max_lon": east})
        if language:
            params["lang"] = language
        return params

    def _best(self, body: Any, place: str) -> GeocodeAnswer | None:
        if not isinstance(body, dict) or not isinstance(body.get("features", []), list):
            raise ValueError("a Pelias search answers a GeoJSON FeatureCollection")
        answers = []
        for feature in body.get("features", []):
            long, lat = (float(x) for x in feature["geometry"]["coordinates"][:2])
            if not self._inside(lat, long):
                continue
            props = feature.get("properties") or {}
            confidence = float(props.get("confidence") or 0.0) * self._MATCH.get(str(props.get("match_type")), 0.8)
            answers.append(GeocodeAnswer(
                lat=lat, long=long, confidence=round(min(max(confidence, 0.0), 1.0), 4),
                kind=self._KINDS.get(str(props.get("layer")), "place"), source=self.source, query=place,
                matched=_public_form(props.get("name") or props.get("label"), lat, long),
            ))
        return max(answers, key=lambda a: a.confidence, default=None)


# -- per jurisdiction ------------------------------------------------------------------------------
_cache: dict[tuple[str, str], Geocoder] = {}
_lock = threading.Lock()


def jurisdiction_bounds(jurisdiction: Jurisdiction) -> Bounds | None:
    """(south, west, north, east): the configured ``bounds``, else the districts' extent, else ``None``."""
    if jurisdiction.bounds is not None:
        b = jurisdiction.bounds
        return b.south, b.west, b.north, b.east
    if jurisdiction.districts is not None:
        west, south, east, north = jurisdiction.districts.bounds
        return south, west, north, east
    return None


def geocoder_for(jurisdiction: Jurisdiction) -> Geocoder:
    """The jurisdiction's geocoder, from its ``geocoding:`` block: the gazetteer (``provider: gazetteer``),
    or a Nominatim/Pelias server at ``url`` with the gazetteer as its fallback, bounded to the
    jurisdiction's bounds and ``country_codes`` and limited to ``timeout_s`` seconds a call.

    Cached per jurisdiction id and ``config_version``. The first call builds the gazetteer (reads the
    ``geocoding.gazetteer`` files: about a second for a few thousand records); call it at start-up.

    Raises:
        shared.records.ReplayFormatError, FileNotFoundError: a gazetteer source cannot be read.
    """
    from shared.geocode.gazetteer import gazetteer_for  # noqa: PLC0415 - avoids an import cycle

    key = (jurisdiction.id, jurisdiction.config_version)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    spec = jurisdiction.geocoding
    gazetteer = gazetteer_for(jurisdiction)
    geocoder: Geocoder
    if spec.provider == "gazetteer" or not spec.url:
        geocoder = gazetteer
    else:
        adapter = NominatimGeocoder if spec.provider == "nominatim" else PeliasGeocoder
        geocoder = adapter(spec.url, timeout_s=spec.timeout_s, bounds=jurisdiction_bounds(jurisdiction),
                           country_codes=spec.country_codes, fallback=gazetteer)
    with _lock:
        _cache[key] = geocoder
    return geocoder
