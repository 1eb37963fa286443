"""Places from words: one `Geocoder` interface; the embedded `Gazetteer` built from a jurisdiction's own
records and district names; Nominatim and Pelias adapters with the gazetteer as fallback."""

from shared.geocode.answer import GeocodeAnswer, Geocoder, PlaceKind
from shared.geocode.extract import extract_place
from shared.geocode.gazetteer import CONFIDENCE, Gazetteer, gazetteer_for
from shared.geocode.normalize import ParsedPlace, normalize_street, parse_place
from shared.geocode.servers import NominatimGeocoder, PeliasGeocoder, geocoder_for

__all__ = [
    "CONFIDENCE",
    "Gazetteer",
    "GeocodeAnswer",
    "Geocoder",
    "NominatimGeocoder",
    "ParsedPlace",
    "PeliasGeocoder",
    "PlaceKind",
    "extract_place",
    "gazetteer_for",
    "geocoder_for",
    "normalize_street",
    "parse_place",
]
