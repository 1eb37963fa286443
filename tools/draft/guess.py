"""Guess a column mapping (`ExportLayoutSpec`) from an export's header and first records, and a boundary
file's district property; every guess is written into the draft, where it can be edited."""

from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.jurisdiction.config import ExportLayoutSpec
from shared.jurisdiction.geo import district_key
from shared.records import ReplayFormatError

__all__ = ["guess_district_properties", "guess_layout"]

#: Header words (accent-folded, lower case, separators as spaces) that name each field, best first.
#: English, French and Spanish names seen in city exports.
HINTS: dict[str, tuple[str, ...]] = {
    "id": ("service request id", "case enquiry id", "unique key", "request id", "case id", "id unique", "id",
           "numero", "no", "n dossier", "dossier", "identifiant", "reference", "ref", "folio"),
    "service": ("service name", "complaint type", "request type title", "request type", "category", "categorie",
                "categorie name", "acti nom", "type", "service", "motif", "categoria", "tipo", "summary", "title",
                "nature"),
    "agency": ("agency responsible", "agency", "department", "departement", "unite resp parent", "unite",
               "direction", "organisme", "responsable", "dependencia", "request type organization"),
    "description": ("description", "descriptor", "details", "detail", "comment", "commentaire", "comments", "texte",
                    "text", "message", "observation", "precision", "case title", "descripcion"),
    "lat": ("latitude", "lat", "loc lat", "y"),
    "long": ("longitude", "long", "lng", "lon", "loc long", "x"),
    "point": ("point", "location", "geom", "geometry", "coordinates", "coordonnees", "position", "the geom"),
    "address": ("address string", "incident address", "address", "adresse", "location address", "location", "rue", "street",
                "lieu", "direccion", "voie"),
    "zipcode": ("zipcode", "zip code", "incident zip", "zip", "postal code", "code postal", "lin code postal", "cp"),
    "requested": ("requested datetime", "created date", "created at", "open dt", "opened", "created", "date creation",
                  "dds date creation", "date de creation", "cree le", "date signalement", "date", "fecha", "timestamp",
                  "time", "obs time", "heure"),
    "closed": ("closed date", "closed dt", "closed at", "date fermeture", "date de cloture", "closed", "fecha cierre"),
    "due": ("due date", "target dt", "expected datetime", "due", "echeance", "date limite", "date prevue"),
    "status": ("status", "case status", "statut", "etat", "dernier statut", "estado", "state"),
    "status_notes": ("status notes", "resolution description", "closure reason", "resolution", "note de cloture"),
    "district": ("district", "community board", "ward", "borough", "arrondissement geo", "arrondissement", "quartier",
                 "secteur", "council district", "distrito", "barrio"),
}
#: Records sampled to guess from (the first ones: Montréal's export starts with records that have no id).
_SAMPLE = 1000
_STRPTIME = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S",
             "%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M",
             "%Y/%m/%d %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%Y%m%d%H%M%S")


def _fold(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


def _flatten(obj: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    """``{"a.b": value}`` for nested objects, two levels deep."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and depth < 2 and value.get("type") != "Point":
            out.update(_flatten(value, f"{path}.", depth + 1))
        else:
            out[path] = value
    return out


def _sample(path: Path, fmt: str, delimiter: str, records: str | None) -> list[dict[str, Any]]:
    if fmt == "csv":
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            return [dict(row) for _, row in zip(range(_SAMPLE), reader, strict=False)]
    text = path.read_text(encoding="utf-8-sig")
    if fmt == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()[: 2 * _SAMPLE] if line.strip()][:_SAMPLE]
    else:
        data: Any = json.loads(text)
        for part in (records.split(".") if records else []):
            data = data[part]
        rows = data[:_SAMPLE]
    return [_flatten(r) for r in rows if isinstance(r, Mapping)]


def _json_records(path: Path) -> str | None:
    """The dotted path of the first array of objects in a JSON document whose top level is an object."""
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    if isinstance(data, list):
        return None

    def find(obj: Any, prefix: str, depth: int) -> str | None:
        if isinstance(obj, list) and obj and isinstance(obj[0], Mapping):
            return prefix.rstrip(".")
        if isinstance(obj, Mapping) and depth < 3:
            for key, value in obj.items():
                if (found := find(value, f"{prefix}{key}.", depth + 1)) is not None:
                    return found
        return None

    found = find(data, "", 0)
    if not found:
        raise ReplayFormatError(f"{path}: no array of records found in the JSON document")
    return found


def _format_of(path: Path) -> tuple[str, str]:
    """``(format, delimiter)`` from the file's name and first line."""
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        first = handle.readline()
    stripped = first.lstrip()
    if path.suffix.lower() == ".jsonl" or (stripped.startswith("{") and stripped.rstrip().endswith("}")
                                           and path.suffix.lower() != ".json"):
        return "jsonl", ","
    if stripped.startswith(("[", "{")):
        return "json", ","
    delimiter = max(",;\t|", key=first.count)
    return "csv", delimiter


def _values(rows: list[dict[str, Any]], column: str) -> list[Any]:
    return [v for r in rows if (v := r.get(column)) not in (None, "") and v != [] and v != {}]


def _time_format(values: list[Any], prefer_day_first: bool) -> str | None:
    """``iso``, ``unix``, ``unix_ms`` or a ``strptime`` pattern that parses every sampled value; None if none does."""
    if not values:
        return None
    texts = [str(v).strip() for v in values]
    if all(t.replace(".", "", 1).isdigit() for t in texts):
        big = max(float(t) for t in texts)
        return "unix_ms" if big > 1e11 else "unix" if big > 1e8 else None

    def parses(fmt: str) -> bool:
        try:
            for t in texts:
                datetime.fromisoformat(t) if fmt == "iso" else datetime.strptime(t, fmt)
        except ValueError:
            return False
        return True

    if parses("iso"):
        return "iso"
    fits = [f for f in _STRPTIME if parses(f)]
    if not fits:
        return None
    day_first = [f for f in fits if f.startswith("%d")]
    return (day_first or fits)[0] if prefer_day_first else next((f for f in fits if not f.startswith("%d")), fits[0])


def _is_number(value: Any) -> bool:
    try:
        float(str(value).strip())
    except ValueError:
        return False
    return True


def guess_layout(path: str | Path, *, prefer_day_first: bool = False) -> ExportLayoutSpec:
    """A column mapping for an export, guessed from its header names (English, French, Spanish) and the
    values of its first 1,000 records: format and delimiter, the columns of each field, the time format.

    Columns are matched by name (`HINTS`: exact folded name first, then a name that contains a hint);
    ``lat``/``long`` and the time columns are kept only when their sampled values parse. A guess is a
    starting point: the draft writes it as the jurisdiction's ``export:`` block to be checked and edited.

    Raises:
        ReplayFormatError: no column looks like the creation time (the mapping must then be written by
            hand, see jurisdictions/README.md), or the file is not CSV/JSON/JSON lines.
    """
    path = Path(path)
    fmt, delimiter = _format_of(path)
    try:
        records = _json_records(path) if fmt == "json" else None
        rows = _sample(path, fmt, delimiter, records)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ReplayFormatError(f"{path}: cannot read a sample of records to guess the layout: {exc}") from exc
    if not rows:
        raise ReplayFormatError(f"{path}: no records to guess the layout from")
    names = list(dict.fromkeys(k for r in rows for k in r))
    folded = {n: _fold(n.rsplit(".", 1)[-1]) for n in names}
    folded_full = {n: _fold(n) for n in names}
    taken: set[str] = set()
    columns: dict[str, Any] = {}

    def pick(field: str, accept=lambda _c: True) -> str | None:  # noqa: ANN001
        for hint in HINTS[field]:
            for name in names:
                if name not in taken and hint in (folded[name], folded_full[name]) and accept(name):
                    return name
        for hint in HINTS[field]:  # then a name that contains the hint (a short hint: as a word)
            for name in names:
                inside = hint in folded_full[name].split() if len(hint) < 4 else hint in folded_full[name]
                if name not in taken and inside and accept(name):
                    return name
        return None

    time_formats: dict[str, str] = {}

    def is_time(name: str) -> bool:
        found = _time_format(_values(rows, name), prefer_day_first)
        if found:
            time_formats[name] = found
        return found is not None

    def is_coordinate(name: str) -> bool:
        values = _values(rows, name)
        return bool(values) and all(_is_number(v) for v in values)

    for field in ("requested", "closed", "due"):
        if (name := pick(field, is_time)) is not None:
            columns[field] = name
            taken.add(name)
    if "requested" not in columns:
        raise ReplayFormatError(
            f"{path}: no column looks like the creation time (columns: {names[:20]}); write the mapping by hand "
            "(jurisdictions/README.md, 'Reading your export: export') and pass it with --layout FILE.yaml"
        )
    for field in ("lat", "long"):
        if (name := pick(field, is_coordinate)) is not None:
            columns[field] = name
            taken.add(name)
    if not ("lat" in columns and "long" in columns):
        columns.pop("lat", None)
        columns.pop("long", None)
        if (name := pick("point", lambda n: bool(_values(rows, n)))) is not None:
            columns["point"] = name
            taken.add(name)
    def is_text(name: str) -> bool:  # a text field is not a time column (DATE_DERNIER_STATUT is no status)
        values = _values(rows, name)
        if not values:
            return False
        return all(_is_number(v) for v in values) or _time_format(values, prefer_day_first) is None

    for field in ("id", "service", "agency", "description", "address", "zipcode", "status", "status_notes",
                  "district"):
        if (name := pick(field, is_text)) is not None:
            columns[field] = name
            taken.add(name)
    formats = {time_formats[columns[f]] for f in ("requested", "closed", "due") if f in columns}
    datetime_format = time_formats[columns["requested"]]
    for field in ("closed", "due"):  # one format for every time column: drop a column that disagrees
        if field in columns and time_formats[columns[field]] != datetime_format:
            columns.pop(field)
    del formats
    closed = sorted({str(v).strip().lower() for v in _values(rows, columns["status"])
                     if _fold(str(v)) in {"closed", "ferme", "fermee", "terminee", "termine", "resolved", "archived",
                                          "cerrado", "resolue", "resolu"}}) if "status" in columns else []
    layout: dict[str, Any] = {"format": fmt, "columns": columns, "datetime_format": datetime_format}
    if records:
        layout["records"] = records
    if fmt == "csv" and delimiter != ",":
        layout["delimiter"] = delimiter
    if closed:
        layout["closed_statuses"] = closed
    return ExportLayoutSpec.model_validate(layout)


def guess_district_properties(
    features: list[Mapping[str, Any]], labels: Iterable[str] = ()
) -> tuple[str, str | None]:
    """``(id_property, name_property)`` of a boundary file's features.

    Candidates are properties present and distinct on every feature. The id is the one whose values match
    most of the export's own district ``labels`` (compared by `district_key`), then a property named like an
    id (``id``, ``code``, ``district``, ``ward``, ``num``...), then the first; the name is a text property
    named like a name (``name``, ``nom``...), when there is one other than the id.

    Raises:
        ReplayFormatError: no property is present and distinct on every feature.
    """
    props = [f.get("properties") or {} for f in features]
    keys = list(dict.fromkeys(k for p in props for k in p))
    distinct = [k for k in keys
                if all(p.get(k) not in (None, "") for p in props) and len({str(p[k]) for p in props}) == len(props)]
    if not distinct:
        raise ReplayFormatError(
            f"no property is present and distinct on every one of the {len(props)} boundary features "
            f"(properties: {keys[:12]}); give --district-property"
        )
    wanted = {district_key(label) for label in labels if label}

    def matches(key: str) -> int:
        return sum(district_key(str(p[key])) in wanted for p in props) if wanted else 0

    id_words = ("id", "code", "district", "ward", "num", "no", "abrev", "boro", "cd", "quartier", "arrond")
    name_words = ("name", "nom", "label", "libelle", "nombre")

    def name_like(key: str) -> bool:
        return any(w in _fold(key) for w in name_words) and all(isinstance(p.get(key), str) for p in props)

    def id_rank(key: str) -> tuple[int, int]:
        folded = _fold(key)
        return next((i for i, w in enumerate(id_words) if w in folded.split() or folded.startswith(w)),
                    len(id_words)), keys.index(key)

    best = min(distinct, key=lambda k: (-matches(k), id_rank(k)))
    if matches(best) and not name_like(best):
        id_property = best  # the export's labels are these ids
    else:
        id_property = min((k for k in distinct if not name_like(k)), key=id_rank, default=best)
    if matches(best) and name_like(best) and best != id_property:
        return id_property, best  # the export's labels are these names: districts resolve by name
    names = [k for k in keys if k != id_property and name_like(k) and all(p.get(k) for p in props)]
    return id_property, (names[0] if names else None)
