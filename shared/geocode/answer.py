"""What a geocoder answers (`GeocodeAnswer`) and the one interface every geocoder has (`Geocoder`)."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["GeocodeAnswer", "Geocoder", "PlaceKind"]

PlaceKind = Literal["address", "intersection", "street", "place"]


class GeocodeAnswer(BaseModel):
    """One place found from words.

    ``lat``/``long``: WGS84 degrees. ``confidence`` in [0, 1]: how sure the geocoder is that this is
    the place meant (an exact known address is near 1, a street alone is low). ``matched``: the form
    that matched, for the resident to confirm ("1200 MAIN ST", "MAIN ST & 5 AVE"). ``kind``: what
    matched. ``source``: who answered (``gazetteer``, ``nominatim``, ``pelias``). ``query``: the text
    that was looked up (the extracted place, not the whole message).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    lat: float = Field(ge=-90, le=90)
    long: float = Field(ge=-180, le=180)
    confidence: float = Field(ge=0, le=1)
    matched: str
    kind: PlaceKind
    source: str
    query: str


@runtime_checkable
class Geocoder(Protocol):
    """Places from words: the gazetteer, a geocoding server, or a test fake."""

    async def geocode(self, text: str, *, language: str | None = None) -> GeocodeAnswer | None:
        """The best place for ``text`` (an address or free text holding one), or ``None`` when nothing matches.

        ``language``: ISO 639-1 of the text (``en``, ``fr``) when known; it helps pick the place out of
        free text. Never raises for a place it cannot find; a server that is down is answered by the
        fallback (see the adapters).
        """
        ...
