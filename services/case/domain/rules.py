"""Case rules that need no I/O: case numbers, finding a case number in text, merge targets, locations and
transcripts a message adds, the Open311 and timeline views."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.contacts import scrub_contacts
from shared.jurisdiction.point_check import check_point

CASE_NUMBER_RE = re.compile(r"\b([A-Z]{2,8})-([0-9]{2})-([0-9]{6,})\b")


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def clean_text(text: str) -> str:
    """Text as stored and shown: C0 control characters other than tab and line breaks, DEL and the
    non-characters U+FFFE/U+FFFF removed (a NUL cannot be stored in PostgreSQL text, and none of them can
    be written in Open311 XML: XML 1.0 §2.2 `Char`)."""
    return _CONTROL.sub("", text)


def case_number(prefix: str, year: int, n: int) -> str:
    """The human case number residents quote: ``<PREFIX>-<yy>-<nnnnnn>`` (e.g. ``NYC-26-000042``).

    `prefix` is the jurisdiction id upper-cased (letters only), `year` the opening year in the
    jurisdiction, `n` a positive sequence number.
    """
    letters = re.sub(r"[^A-Za-z]", "", prefix).upper()[:8] or "CASE"
    if len(letters) < 2:
        letters = (letters + "X")[:2]
    return f"{letters}-{year % 100:02d}-{n:06d}"


def find_case_number(text: str | None, prefix: str) -> str | None:
    """The first case number of this jurisdiction quoted in `text` (subject or body), or None.

    Full-width forms are read as ASCII; the result is always the canonical ASCII number.
    """
    if not text:
        return None
    want = case_number(prefix, 0, 0).split("-")[0]
    # NFKC: a number typed with full-width characters (CJK input methods) is the same number.
    for m in CASE_NUMBER_RE.finditer(unicodedata.normalize("NFKC", text).upper()):
        if m.group(1) == want:
            return m.group(0)
    return None


@dataclass(frozen=True)
class CaseState:
    """What a merge decision needs to know of a case: its id, Open311 `status` (``open``/``closed``), the
    case it was merged into (None if not merged) and when it was opened (aware UTC)."""

    case_id: UUID
    status: str
    merged_into: UUID | None
    opened_at: datetime


@dataclass(frozen=True)
class MergePlan:
    """`duplicate` is closed and merged into `survivor`; `skip_reason` set when nothing should happen."""

    duplicate: UUID | None
    survivor: UUID | None
    skip_reason: str | None = None


def plan_merge(candidate: CaseState, target_chain: list[CaseState]) -> MergePlan:
    """Decide a merge of `candidate` into the last case of `target_chain`.

    `target_chain` is the proposed target followed by the cases it was itself merged into, in order
    (so a merge always lands on a case that is still the surviving one). A closed candidate, a closed
    survivor, or a merge of a case into itself is skipped with a reason.
    """
    if not target_chain:
        return MergePlan(None, None, "target case not found")
    survivor = target_chain[-1]
    if candidate.merged_into is not None:
        return MergePlan(None, None, "case already merged")
    if candidate.status != "open":
        return MergePlan(None, None, "case no longer open")
    if survivor.case_id == candidate.case_id:
        return MergePlan(None, None, "a case cannot be merged into itself")
    if survivor.status != "open":
        return MergePlan(None, None, "target case no longer open")
    return MergePlan(duplicate=candidate.case_id, survivor=survivor.case_id)


def open311_request(row: dict[str, Any]) -> dict[str, Any]:
    """A case row (a `dict` with the `cases` columns; only `service_request_id` and `status` are required)
    as an Open311 GeoReport v2 service request (GET Service Request fields): `expected_datetime` is the SLA
    due time, `media_url` the first of the case's media (or None), `service_notice` and `address_id` are
    always None; times stay aware datetimes and coordinates WGS84 degrees. Raises `KeyError` for a row
    without `service_request_id` or `status`."""
    return {
        "service_request_id": row["service_request_id"],
        "status": row["status"],
        "status_notes": row.get("status_notes"),
        "service_name": row.get("service_name"),
        "service_code": row.get("service_code"),
        "description": row.get("description"),
        "agency_responsible": row.get("agency_responsible"),
        "service_notice": None,
        "requested_datetime": row.get("requested_datetime"),
        "updated_datetime": row.get("updated_datetime"),
        "expected_datetime": row.get("sla_due_at"),
        "address": row.get("address"),
        "address_id": None,
        "zipcode": row.get("zipcode"),
        "lat": row.get("lat"),
        "long": row.get("long"),
        "media_url": (row.get("media_url") or [None])[0],
    }


def routing_facts(row: dict[str, Any], district_names: dict[str, str] | None = None) -> dict[str, Any]:
    """The routing facts of a case (its stored decision, `row["routing"]`, a `RoutingFields` as JSON) as
    Open311 `extended_attributes` (docs/judgement.md, "Routing facts on the case API and on Open311";
    the keys of `shared.open311.EXTENDED_ATTRIBUTE_KEYS`, in that order): `district` and `district_name`
    (looked up in `district_names`, district id → name; None when unknown), `queue`, `rule_id`,
    `category_source`, `classifier_method`, `classifier_probability` (the top suggestion's, for the
    learned ``model`` only: keyword suggestions carry scores, not probabilities), `model_version`,
    `suggestions` (``[{"service_code", "probability"}]``, best first; empty when none), `location_status`,
    `location_source`, `location_confidence` and `location_matched`. Every value None (suggestions empty)
    for a case never routed; a decision made before issue 11 has no classifier or location part. Public
    facts only: the decision holds no contact data (the matched place is a street form from the
    gazetteer or the geocoding server, never the resident's text)."""
    routing = row.get("routing") or {}
    classifier = routing.get("classifier") or {}
    location = routing.get("location") or {}
    suggestions = [{"service_code": s.get("service_code"), "probability": s.get("probability")}
                   for s in classifier.get("suggestions") or [] if isinstance(s, dict)]
    method = classifier.get("method")
    district = routing.get("district")
    return {
        "district": district,
        "district_name": (district_names or {}).get(district) if district else None,
        "queue": routing.get("queue"),
        "rule_id": routing.get("rule_id"),
        "category_source": routing.get("category_source"),
        "classifier_method": method,
        "classifier_probability": suggestions[0]["probability"] if method == "model" and suggestions else None,
        "model_version": classifier.get("model_version"),
        "suggestions": suggestions,
        "location_status": location.get("status"),
        "location_source": location.get("source"),
        "location_confidence": location.get("confidence"),
        "location_matched": location.get("matched"),
    }


def district_names(jurisdiction: Any) -> dict[str, str]:
    """District id → name of every area of the jurisdiction's district layer (empty without one)."""
    index = getattr(jurisdiction, "districts", None)
    return {d.id: d.name for d in index.areas} if index is not None else {}


PUBLIC_TEXT_FIELDS = ("description", "address", "status_notes")
"""The free-text fields of a service request a resident or staff member may have written a contact into."""


def public_request(row: dict[str, Any], region: str) -> dict[str, Any]:
    """`open311_request(row)` as anyone may read it (the unauthenticated Open311 reads and the portal's
    tracking page): `description`, `address` and `status_notes` with email addresses and phone numbers
    replaced by ``[email]`` / ``[phone]`` (`shared.contacts.scrub_contacts`, numbers without ``+`` read in
    `region`, ISO 3166 alpha-2), as the open-data exports do; staff reads keep the full text. Contract:
    docs/residents-and-insights.md (Open311). Raises `KeyError` as `open311_request` does."""
    out = open311_request(row)
    for field in PUBLIC_TEXT_FIELDS:
        if out[field]:
            out[field] = scrub_contacts(out[field], region)
    return out


def has_point(lat: float | None, long: float | None) -> bool:
    """A place a crew can be sent to: both coordinates (WGS84 degrees) given; a lone one is no place."""
    return lat is not None and long is not None


LOCATION_VERDICTS = ("swapped", "placeholder", "out_of_range", "outside")
"""The verdicts of `shared.jurisdiction.point_check.check_point` a case keeps (``ok`` says nothing)."""


@dataclass(frozen=True)
class CheckedLocation:
    """A message's point after the case service's own location check: the point to keep (`lat`/`long`,
    WGS84 degrees; None when the message has none or it was dropped), `check` the ``location_check`` to
    keep on the case (``{"verdict", "reason", "given"}``; None when there is nothing to say) and
    `corrected` whether the case service changed the point the message carried."""

    lat: float | None
    long: float | None
    check: dict[str, Any] | None = None
    corrected: bool = False


def carried_check(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The ``attributes.location_check`` an adapter put on a message (`PointCheck.as_attribute`), as the
    case keeps it: its `verdict` (one of `LOCATION_VERDICTS`), `reason` (text) and `given` (an object, or
    None); None when absent or not of that shape (an adapter's mistake is not kept as a fact)."""
    raw = attributes.get("location_check")
    if not isinstance(raw, dict) or raw.get("verdict") not in LOCATION_VERDICTS or not isinstance(
            raw.get("reason"), str):
        return None
    given = raw.get("given")
    return {"verdict": raw["verdict"], "reason": raw["reason"], "given": given if isinstance(given, dict) else None}


def checked_location(lat: float | None, long: float | None, attributes: dict[str, Any], *,
                     contains: Callable[[float, float], bool]) -> CheckedLocation:
    """Apply the one location check (`check_point`, `contains` is `Jurisdiction.contains`) again to a
    message's point, whatever its producer did (docs/channels.md, "One location check": a producer that
    skipped it cannot put a placeholder on the map): ``swapped`` → the swapped point, ``placeholder`` and
    ``out_of_range`` → no point, each with its verdict as `check` and `corrected`; ``ok`` and ``outside``
    → the point as given (the router says it is outside), `check` the one the message carried
    (`carried_check`: e.g. the web ignored a placeholder, an SMS adapter already swapped the point). A
    message without both coordinates keeps what it has."""
    carried = carried_check(attributes)
    if lat is None or long is None:
        return CheckedLocation(lat, long, carried)
    verdict = check_point(lat, long, contains=contains)
    if verdict.verdict in ("ok", "outside"):
        return CheckedLocation(lat, long, carried)
    return CheckedLocation(verdict.lat, verdict.long, verdict.as_attribute(), corrected=True)


def location_added(case: dict[str, Any], attributes: dict[str, Any], *, address: str | None,
                   zipcode: str | None, lat: float | None, long: float | None) -> dict[str, Any]:
    """The location fields a threaded message gives a case that has none; empty when it gives nothing.

    Only a message that answers the case's location question (`attributes.completes_location_of`, SMS)
    or carries the place given in a call (`attributes.transcript_of_call`, voice) counts; other
    messages on a case may mention places in passing. A case with a point (`lat`/`long`) keeps it;
    a case with an address but no point gains the message's point and keeps its address. A closed case
    (e.g. merged as a duplicate) is not moved: a new location would route it again. Coordinates in
    WGS84 degrees, both or neither.
    """
    if not (attributes.get("completes_location_of") or attributes.get("transcript_of_call")):
        return {}
    if case.get("status", "open") != "open":
        return {}
    if has_point(case.get("lat"), case.get("long")):
        return {}
    out: dict[str, Any] = {}
    if has_point(lat, long):
        out.update(lat=lat, long=long)
    if address and address.strip() and not case.get("address"):
        out["address"] = address.strip()
    if zipcode and not case.get("zipcode"):
        out["zipcode"] = zipcode
    return out


def transcript_description(case_description: str | None, attributes: dict[str, Any], text: str) -> str | None:
    """The case description a call's transcript gives, or None to keep the case's own.

    A transcript (`attributes.transcript_of_call`) replaces a description that is empty or only what the
    voice menu gathered (the spoken or chosen kind of problem, `attributes.problem`); a description
    written by a person (e.g. an agent, or an earlier transcript) is kept, and the transcript stays a
    message on the case. An empty transcript changes nothing.
    """
    if not attributes.get("transcript_of_call") or not text.strip():
        return None
    current = (case_description or "").strip()
    gathered = str(attributes.get("problem") or "").strip()
    if current and current != gathered:
        return None
    return None if current == text.strip() else text.strip()


def timeline_view(case: dict[str, Any], merged_into: str | None, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """What staff see of a case: its state, where it was merged (the survivor's `service_request_id`),
    and its timeline entries (`at`, `kind`, `event_id`, `detail`) oldest first."""
    return {"case_id": str(case["case_id"]), "service_request_id": case["service_request_id"],
            "status": case["status"], "merged_into": merged_into, "channel": case["channel"],
            "queue": case["queue"], "district": case["district"], "timeline": entries}
