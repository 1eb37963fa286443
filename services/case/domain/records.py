"""What the case handlers write and announce, built from the consumed event and the case as stored: rows
for `cases` and `messages`, the changes a threaded message makes, timeline entries and event payloads. Pure.

A case is a `dict` with the `cases` columns (`adapters.repository.CASE_COLUMNS`); times are aware UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from services.case.domain.rules import has_point
from shared.events import (
    CaseFollowed,
    CaseMerged,
    CaseMessageAdded,
    CaseMessageWithdrawn,
    CaseOpened,
    CaseRouted,
    CaseStatusChanged,
    CaseSurveyAnswered,
    FollowRequested,
    MessageReceived,
    MessageWithdrawn,
    RoutingFields,
    SurveyAnswered,
)

Case = dict[str, Any]
TimelineEntry = tuple[str, dict[str, Any]]
"""(kind, detail) of one timeline row; the handler adds the case, the time and the causing event."""


def requested_at(msg: MessageReceived) -> datetime:
    """When the resident made the request (aware UTC): the channel's own time if it gave one, else when
    it arrived."""
    return msg.requested_datetime or msg.received_at


def message_row(msg: MessageReceived, *, case_id: UUID, message_id: UUID, event_id: UUID) -> dict[str, Any]:
    """The `messages` row (column → value, for `CaseRepository.insert_message`) of an intake message on
    `case_id`, with the channel ids it said it answers (`in_reply_to`, a `list[str]`)."""
    return {
        "message_id": message_id, "case_id": case_id, "channel": msg.channel,
        "channel_message_id": msg.channel_message_id, "event_id": event_id,
        "description": msg.description, "media_url": msg.media_url, "received_at": msg.received_at,
        "in_reply_to": msg.in_reply_to,
    }


OPEN311_ANSWER_CHANNELS = ("open311", "web")
"""Channels whose message `attributes` are answers to the service's Open311 attributes, checked at intake
(intake_web: the Open311 POST and the portal). Other channels put their own metadata there (a call's
recording, an SMS location question), which is not the case's."""


def open311_answers(msg: MessageReceived) -> dict[str, str | list[str]]:
    """The answers an intake message gives to its service's Open311 attributes (code → value, or list of
    values), as `case.opened` and `cases.attributes` carry them: those of the Open311 and portal channels
    (`OPEN311_ANSWER_CHANNELS`) whose value is text or a list of texts; nothing from other channels."""
    if msg.channel not in OPEN311_ANSWER_CHANNELS:
        return {}
    return {code: value for code, value in msg.attributes.items()
            if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))}


def with_location_check(attributes: dict[str, Any] | None, check: dict[str, Any] | None) -> dict[str, Any]:
    """A case's `attributes` with the location check kept under ``location_check`` (`rules.CheckedLocation.
    check`: verdict, reason, given), beside the Open311 answers; unchanged when `check` is None."""
    return {**(attributes or {}), **({"location_check": check} if check else {})}


def location_checked_entry(check: dict[str, Any], *, corrected: bool, message_id: UUID | None = None
                           ) -> TimelineEntry:
    """The `location_checked` timeline entry: the verdict and reason of the location check, the point as
    given, who applied it (``case``: this service changed the message's point; ``intake``: the adapter did,
    or ignored it) and, for a threaded message, which one."""
    return ("location_checked", {"verdict": check["verdict"], "reason": check["reason"], "given": check["given"],
                                 "applied_by": "case" if corrected else "intake",
                                 **({"message_id": str(message_id)} if message_id else {})})


def new_case_row(msg: MessageReceived, *, case_id: UUID, number: str, jurisdiction_id: str,
                 correlation_id: UUID, now: datetime, workflow_status: str = "new",
                 location_check: dict[str, Any] | None = None) -> Case:
    """The `cases` row (column → value, for `CaseRepository.insert_case`) an intake message opens: open,
    unrouted, carrying the flow's correlation id and its Open311 answers (`open311_answers`) with the
    `location_check` (`with_location_check`); `number` is its `service_request_id`, `now` (aware UTC) its
    opening and update time, `workflow_status` the workflow's initial status. `msg` carries the point as
    the case's location check left it (`rules.checked_location`)."""
    return {
        "workflow_status": workflow_status,
        "case_id": case_id, "service_request_id": number, "jurisdiction_id": jurisdiction_id,
        "status": "open", "channel": msg.channel, "contact_key": msg.contact_key,
        "service_code": msg.service_code, "description": msg.description, "address": msg.address,
        "zipcode": msg.zipcode, "lat": msg.lat, "long": msg.long, "media_url": msg.media_url,
        "language": msg.language, "correlation_id": correlation_id, "requested_datetime": requested_at(msg),
        "opened_at": now, "updated_datetime": now,
        "attributes": with_location_check(open311_answers(msg), location_check),
        "location_source": "report" if has_point(msg.lat, msg.long) else None,
    }


def opened_entry(msg: MessageReceived, number: str) -> TimelineEntry:
    """The first timeline entry of a case. A failed sender check (e.g. DMARC fail on email) is shown to
    staff here, not trusted."""
    return ("opened", {"channel": msg.channel, "service_request_id": number,
                       "sender_authenticated": msg.sender_authenticated})


def case_opened(msg: MessageReceived, *, case_id: UUID, number: str, jurisdiction_id: str) -> CaseOpened:
    """`case.opened` for a case an intake message opened."""
    return CaseOpened(
        case_id=case_id, service_request_id=number, jurisdiction_id=jurisdiction_id,
        channel=msg.channel, channel_message_id=msg.channel_message_id, contact_key=msg.contact_key,
        service_code=msg.service_code, description=msg.description, address=msg.address,
        zipcode=msg.zipcode, lat=msg.lat, long=msg.long, media_url=msg.media_url,
        requested_datetime=requested_at(msg), language=msg.language, pii=msg.pii,
        attributes=open311_answers(msg),
    )


def threaded_update(case: Case, msg: MessageReceived, *, located: dict[str, Any], described: str | None,
                    now: datetime) -> dict[str, Any]:
    """The case columns a threaded message changes: its media (each URL once, in order: a call's
    transcript carries the call's recording again), the location it completed (`located`, from
    `rules.location_added`) and the description a transcript gave (`described`, from
    `rules.transcript_description`; None keeps the case's own)."""
    return {
        "updated_datetime": now, "media_url": list(dict.fromkeys([*case["media_url"], *msg.media_url])),
        **located, **({"location_source": "report"} if "lat" in located else {}),
        **({"description": described} if described is not None else {}),
    }


def threaded_entries(case: Case, msg: MessageReceived, *, message_id: UUID, located: dict[str, Any],
                     described: str | None) -> list[TimelineEntry]:
    """Timeline entries of a threaded message: `message_added`, then `located` (which fields changed; the
    values are on the case) and `described` when it changed those."""
    entries: list[TimelineEntry] = [("message_added", {
        "channel": msg.channel, "message_id": str(message_id), "sender_authenticated": msg.sender_authenticated})]
    if located:
        entries.append(("located", {
            "message_id": str(message_id), "fields": sorted(located),
            "source": "call" if msg.attributes.get("transcript_of_call") else "location_answer"}))
    if described is not None:
        entries.append(("described", {
            "message_id": str(message_id), "source": "call_transcript",
            "replaced": "ivr_answer" if case["description"] else "nothing"}))
    return entries


def message_added(case: Case, msg: MessageReceived, *, message_id: UUID, jurisdiction_id: str,
                  located: dict[str, Any]) -> CaseMessageAdded:
    """`case.message_added` for a message threaded onto `case`, with the location it completed if any."""
    return CaseMessageAdded(
        case_id=case["case_id"], service_request_id=case["service_request_id"],
        jurisdiction_id=jurisdiction_id, message_id=message_id, channel=msg.channel,
        channel_message_id=msg.channel_message_id, description=msg.description,
        media_url=msg.media_url, pii=msg.pii, **located,
    )


def routing_update(r: RoutingFields, now: datetime) -> dict[str, Any]:
    """The case columns a routing decision sets, the whole decision kept in `routing` (JSON)."""
    return {
        "service_code": r.service_code, "service_name": r.service_name,
        "agency_responsible": r.agency_responsible, "queue": r.queue, "priority": r.priority,
        "district": r.district, "sla_due_at": r.sla_due_at, "routing": r.model_dump(mode="json"),
        "updated_datetime": now,
    }


def placed_point(case: Case, r: RoutingFields) -> dict[str, Any]:
    """The point a routing decision gives a case that has none (docs/judgement.md, "Places from words"):
    ``{"lat", "long", "location_source": "geocoded"}`` when the router placed the report's written place
    (`r.location.status` ``placed``, with both coordinates, WGS84 degrees); empty otherwise, and always
    for a case that already has a point (a case never moves once placed: the resident's own point, an
    answer to the location question or an earlier decision's). The address is kept as written."""
    loc = r.location
    if loc is None or loc.status != "placed" or not has_point(loc.lat, loc.long):
        return {}
    if has_point(case.get("lat"), case.get("long")):
        return {}
    return {"lat": loc.lat, "long": loc.long, "location_source": "geocoded"}


def placed_entry(r: RoutingFields) -> TimelineEntry:
    """The `located` timeline entry of a point adopted from a routing decision (`placed_point`): the
    fields set, ``source`` ``geocoder`` with the geocoder's name, what matched, its kind and confidence."""
    loc = r.location
    assert loc is not None, "only a decision that placed the case is written so"
    return ("located", {"fields": ["lat", "long"], "source": "geocoder", "geocoder": loc.source,
                        "matched": loc.matched, "kind": loc.kind, "confidence": loc.confidence})


def case_routed(case: Case, r: RoutingFields) -> CaseRouted:
    """`case.routed`: the decision applied, with the location, text, opening time and the contact key of
    the reporter who opened the case (`cases.contact_key`, not a later follower's) that dedup compares."""
    return CaseRouted(
        case_id=case["case_id"], service_request_id=case["service_request_id"],
        jurisdiction_id=case["jurisdiction_id"], routing=r, description=case["description"],
        lat=case["lat"], long=case["long"], requested_datetime=case["requested_datetime"],
        contact_key=case["contact_key"],
    )


def merged_notes(survivor: Case) -> str:
    """The Open311 `status_notes` of a case merged into `survivor`."""
    return f"Duplicate of {survivor['service_request_id']}"


def routed_entry(r: RoutingFields, *, before: str, after: str) -> TimelineEntry:
    """The `routed` timeline entry: queue, rule, configuration, who asked (`source`: ``automatic``, or
    ``manual`` when it answers a staff recategorisation, then `recategorised` is true) and the workflow
    status before and after (routing acknowledges a new case)."""
    return ("routed", {"queue": r.queue, "rule_id": r.rule_id, "config_version": r.config_version,
                       "source": r.source, "recategorised": r.source == "manual",
                       "service_code": r.service_code, "sla_due_at": r.sla_due_at.isoformat() if r.sla_due_at else None,
                       "before": {"workflow_status": before}, "after": {"workflow_status": after}})


def merge_update(survivor: Case, *, workflow_before: str, merged_status: str, now: datetime) -> dict[str, Any]:
    """The columns a merge sets on the duplicate: closed, "Duplicate of …", merged into `survivor`, in the
    workflow's `merged_status`, remembering `workflow_before` (the status an unmerge restores)."""
    return {"status": "closed", "status_notes": merged_notes(survivor), "merged_into": survivor["case_id"],
            "workflow_status": merged_status, "workflow_before_merge": workflow_before, "updated_datetime": now}


def status_changed(case: Case, *, status: str, workflow_status: str, previous: str, notes: str | None,
                   notify: bool) -> CaseStatusChanged:
    """`case.status_changed`: `case` moved from the workflow status `previous` to `workflow_status`, whose
    Open311 status is `status`; `notify` is the workflow's word on telling the reporters."""
    return CaseStatusChanged(
        case_id=case["case_id"], service_request_id=case["service_request_id"],
        jurisdiction_id=case["jurisdiction_id"], status=status, status_notes=notes,
        workflow_status=workflow_status, previous_workflow_status=previous, notify=notify)


def case_merged(duplicate: Case, survivor: Case) -> CaseMerged:
    """`case.merged`: `duplicate` is closed and merged into `survivor`."""
    return CaseMerged(
        case_id=duplicate["case_id"], service_request_id=duplicate["service_request_id"],
        jurisdiction_id=duplicate["jurisdiction_id"], merged_into=survivor["case_id"],
        merged_into_service_request_id=survivor["service_request_id"], status_notes=merged_notes(survivor),
    )


def follower_address(follow: FollowRequested) -> str | None:
    """The address a follower asked to hear on: `pii.email` for ``email``, `pii.phone` for ``sms``; None
    when the request lacks it (bad input: the handler refuses it)."""
    value = follow.pii.email if follow.notify_channel == "email" else follow.pii.phone
    return value.strip() if value and value.strip() else None


def follower_row(follow: FollowRequested, *, case_id: UUID, event_id: UUID, now: datetime) -> dict[str, Any]:
    """The `followers` row of a follow of `case_id` (the survivor when the case asked for was merged)."""
    return {"case_id": case_id, "contact_key": follow.contact_key, "notify_channel": follow.notify_channel,
            "language": follow.language, "followed_at": now, "event_id": event_id}


def followed_entry(follow: FollowRequested, *, requested: str | None) -> TimelineEntry:
    """The `followed` timeline entry: the follower's contact key (as a reply entry names a reporter's, never
    their address), channel and language; `requested` the case number they asked for when it was merged
    into this one (None otherwise)."""
    return ("followed", {"channel": follow.channel, "contact_key": follow.contact_key,
                         "notify_channel": follow.notify_channel, "language": follow.language,
                         **({"requested_case": requested} if requested else {})})


def case_followed(case: Case, follow: FollowRequested) -> CaseFollowed:
    """`case.followed`: a new follower of `case` (the survivor of a merged case), with their address."""
    return CaseFollowed(case_id=case["case_id"], service_request_id=case["service_request_id"],
                        jurisdiction_id=case["jurisdiction_id"], follower_contact_key=follow.contact_key,
                        notify_channel=follow.notify_channel, language=follow.language, pii=follow.pii)


def survey_text(rating: int, comment: str) -> str:
    """How a survey answer reads on the timeline: ``Survey: 4/5 — comment`` (``Survey: 4/5`` without one)."""
    return f"Survey: {rating}/5 — {comment}" if comment else f"Survey: {rating}/5"


def survey_row(answer: SurveyAnswered, *, case_id: UUID, comment: str, outcome: str, reason: str | None,
               event_id: UUID, now: datetime) -> dict[str, Any]:
    """The `survey_answers` row of an answer (`outcome` ``accepted`` or ``refused`` with its `reason`);
    `comment` is the answer's comment as stored (cleaned), `now` when it was recorded (aware UTC)."""
    return {"channel_message_id": answer.channel_message_id, "case_id": case_id,
            "contact_key": answer.contact_key, "rating": answer.rating, "comment": comment,
            "language": answer.language, "outcome": outcome, "reason": reason,
            "answered_at": answer.received_at, "recorded_at": now, "event_id": event_id}


def survey_entry(answer: SurveyAnswered, comment: str) -> TimelineEntry:
    """The `survey_answered` timeline entry: who answered (contact key), the rating, the comment and its
    one-line reading (`survey_text`)."""
    return ("survey_answered", {"contact_key": answer.contact_key, "rating": answer.rating, "comment": comment,
                                "text": survey_text(answer.rating, comment)})


def case_survey_answered(case: Case, answer: SurveyAnswered, comment: str) -> CaseSurveyAnswered:
    """`case.survey_answered` for an accepted answer about `case`."""
    return CaseSurveyAnswered(case_id=case["case_id"], service_request_id=case["service_request_id"],
                              jurisdiction_id=case["jurisdiction_id"], contact_key=answer.contact_key,
                              rating=answer.rating, comment=comment, answered_at=answer.received_at)


def withdrawal_row(w: MessageWithdrawn, *, event_id: UUID) -> dict[str, Any]:
    """The `withdrawals` row of a resident's withdrawal (`intake.message_withdrawn`), not applied yet."""
    return {"channel": w.channel, "channel_message_id": w.channel_message_id, "contact_key": w.contact_key,
            "withdrawn_at": w.received_at, "event_id": event_id}


def media_kept(case_media: list[str], withdrawn: list[str]) -> list[str]:
    """The case's media URLs without those of a withdrawn message (a threaded message's photos were added
    to the case's own), in order."""
    gone = set(withdrawn)
    return [url for url in case_media if url not in gone]


def withdrawn_entry(w: MessageWithdrawn, *, message_id: UUID, opened_the_case: bool, before_arrival: bool
                    ) -> TimelineEntry:
    """The `message_withdrawn` timeline entry: the reporter (contact key) deleted a message (which one, on
    which channel, whether it opened the case, whether the withdrawal came before the message itself).
    No word of the message is quoted."""
    return ("message_withdrawn", {"by": "reporter", "contact_key": w.contact_key, "channel": w.channel,
                                  "message_id": str(message_id), "opened_the_case": opened_the_case,
                                  "before_arrival": before_arrival})


def case_message_withdrawn(case: Case, w: MessageWithdrawn, *, message_id: UUID,
                           opened_the_case: bool) -> CaseMessageWithdrawn:
    """`case.message_withdrawn`: that message's words are gone from `case` (and the case's description and
    media when it opened the case)."""
    return CaseMessageWithdrawn(case_id=case["case_id"], service_request_id=case["service_request_id"],
                                jurisdiction_id=case["jurisdiction_id"], message_id=message_id, channel=w.channel,
                                channel_message_id=w.channel_message_id, opened_the_case=opened_the_case)
