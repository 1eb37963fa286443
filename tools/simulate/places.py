"""Places of the running city for the simulate commands `make run` prints: addresses of the jurisdiction's
own gazetteer (`shared.geocode.gazetteer_for`) that its geocoder places (``geocoding.accept_from``) inside
it, else its district centres as shared points, so each printed command's place is in the city that runs
(NYC by default, not the demo city's Elm Street)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.jurisdiction import Jurisdiction


@dataclass(frozen=True)
class Place:
    """Where a simulated resident says the problem is: `words` as written in a text (an address, or a
    district's name), and, for a district centre, the point (WGS84 degrees) they share with ``--lat
    --long`` (None for an address the city's geocoder places on its own)."""

    words: str
    lat: float | None = None
    long: float | None = None


def _written(address: str) -> str:
    """``"865 COLUMBUS AVENUE, NEW YORK 10025"`` → ``"865 Columbus Avenue"``: the part before the locality,
    as a resident writes it."""
    street = address.split(",", 1)[0].strip()
    return " ".join(w.capitalize() if w.isupper() else w for w in street.split())  # an export in capitals


def city_places(jurisdiction: Jurisdiction, n: int, *, probe: str = "Pothole at {place}") -> list[Place]:
    """`n` distinct places of `jurisdiction`, most reported first (ties by text): written addresses of its
    gazetteer sources that `gazetteer_for(jurisdiction).find(probe.format(place=...))` places as an
    ``address`` with confidence >= ``geocoding.accept_from`` inside the jurisdiction; when there are fewer,
    the centres of its districts (`district_places`) as shared points. Fewer than `n` when the city has
    neither. Reads the gazetteer's files (seconds for NYC's thousand records).

    Raises what `gazetteer_for` raises for a missing or unreadable source file."""
    from shared.geocode.gazetteer import district_places, gazetteer_for  # noqa: PLC0415 - heavy, on demand
    from shared.geocode.normalize import parse_place  # noqa: PLC0415
    from shared.records import records_for  # noqa: PLC0415

    found: list[Place] = []
    if jurisdiction.geocoding.gazetteer:
        gazetteer = gazetteer_for(jurisdiction)
        counts: Counter[str] = Counter()
        for source in jurisdiction.geocoding.gazetteer:
            layout = source.layout
            if layout is not None and layout.startswith(("./", "../")):
                layout = str(jurisdiction.resolve(layout))
            for record in records_for(jurisdiction.resolve(source.file), layout=layout, jurisdiction=jurisdiction):
                if record.address_string and record.lat is not None:
                    parsed = parse_place(record.address_string)
                    if parsed is not None and parsed.kind == "address":
                        counts[_written(record.address_string)] += 1
        threshold = jurisdiction.geocoding.accept_from
        for words, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
            answer = gazetteer.find(probe.format(place=words))
            if (answer is not None and answer.kind == "address" and answer.confidence >= threshold
                    and jurisdiction.contains(answer.lat, answer.long)):
                found.append(Place(words))
                if len(found) == n:
                    return found
    for name, lat, long in district_places(jurisdiction):
        if len(found) == n:
            break
        found.append(Place(name, round(lat, 6), round(long, 6)))
    return found
