"""`ReplayRecord`: one historical 311 request in Open311 terms, whatever export it was read from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["ReplayFormatError", "ReplayRecord", "SourceFormat"]

#: Which reader produced a record: a known layout detected from the file, or ``mapped`` (a column mapping).
SourceFormat = Literal["nyc_csv", "boston_csv", "open311_json", "open311_xml", "mapped"]


class ReplayFormatError(ValueError):
    """A file cannot be replayed: unknown layout, missing columns or a bad value (path and record say where)."""


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    """One historical request, in Open311 terms, ready to be sent through an intake channel.

    Attributes:
        source_format: which reader produced it (``mapped``: a column mapping, `shared.records.read_layout`).
        position: 1-based record number in the file (not the line number: CSV cells may span lines).
        source_id: the export's own id (NYC ``Unique Key``, Boston ``case_enquiry_id``,
            Open311 ``service_request_id``); duplicates in the file are yielded as they come.
        service_name: the category label of the source (NYC ``Complaint Type``, Boston ``type``).
        description: the source's short text (NYC ``Descriptor (Location Type)``, Boston
            ``case_title``, Open311 ``description``).
        lat, long: WGS84 decimal degrees, ``None`` when the source has none. Boston's
            city-centre fallback (42.3594, -71.0587) is kept: the platform decides what it means.
        address_string: street-level location text, or ``None`` when the source has none.
        zipcode: postal code when given.
        expected_agency: department that handled it (NYC ``Agency``, Boston ``department``,
            Open311 ``agency_responsible``): the routing oracle.
        requested_datetime: aware, UTC.
        status, status_notes: final state and resolution text of the source, for comparison.
        free_text: what a resident might write with no category chosen; never contains
            ``service_name`` verbatim (case-insensitive), ``None`` when the source text does.
        email: always ``None``; these exports carry no contact data.
        city_due_at: the city's own due time, aware UTC (Boston ``target_dt``, NYC ``Due Date``,
            Open311 ``expected_datetime``), ``None`` when the source has none.
        closed_at: when the city closed the request, aware UTC (Boston ``closed_dt``, NYC
            ``Closed Date``), ``None`` when still open or unknown (Open311 files say no close time).
        city_on_time: the city's own verdict, where it states one: Boston ``ontime`` (``ONTIME`` ->
            ``True``, ``OVERDUE`` -> ``False``); ``None`` elsewhere and when the cell is blank.
        district: the export's own district label as written (NYC ``Community Board`` "07 BROOKLYN",
            Boston ``ward``, a mapping's ``district`` column such as Montréal ``ARRONDISSEMENT_GEO``);
            ``None`` when the source has none. A label to compare with, not a district id.
    """

    source_format: SourceFormat
    position: int
    source_id: str
    service_name: str | None
    description: str | None
    lat: float | None
    long: float | None
    address_string: str | None
    zipcode: str | None
    expected_agency: str | None
    requested_datetime: datetime
    status: Literal["open", "closed"] | None
    status_notes: str | None
    free_text: str | None
    email: str | None = None
    city_due_at: datetime | None = None
    closed_at: datetime | None = None
    city_on_time: bool | None = None
    district: str | None = None
