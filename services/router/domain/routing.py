"""Pure routing: category, district, department queue, priority and SLA due time from a jurisdiction config."""

from __future__ import annotations

from datetime import UTC, datetime

from services.router.domain.classify import classifier_for
from services.router.domain.model import CategorySource, LocationStatus, RoutingDecision, RoutingInput
from shared.jurisdiction import District, Jurisdiction, Service, tokens
from shared.jurisdiction.config import RoutingRuleSpec

__all__ = ["DEFAULT_RULE_ID", "route"]

#: ``rule_id`` of a decision that no configured routing rule changed.
DEFAULT_RULE_ID = "default"


def route(request: RoutingInput, jurisdiction: Jurisdiction, now: datetime) -> RoutingDecision:
    """Decide where one request goes.

    1. Category: the request's ``service_code`` when the jurisdiction knows it; otherwise the best
       EN/FR keyword match of its text scoring at least ``classification.min_score``; otherwise
       the jurisdiction's unclassified service (``category_source`` says which).
    2. District: point in polygon, ``None`` without a point, at a fallback ("unknown location")
       point, outside the jurisdiction or in an area that is no district.
    3. The first routing rule whose conditions hold overrides queue, priority, agency or SLA.
    4. SLA: due ``sla_hours`` after ``requested_datetime`` (or ``now`` when absent, later than
       ``now`` or too close to year 1 for the calendar, with a note) on the business calendar (time
       zone, opening hours, holidays) or round the clock.

    ``now`` must be timezone-aware; every datetime in the decision is aware UTC.

    Raises:
        ValueError: ``now`` is naive.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now!r}")
    now_utc = now.astimezone(UTC)
    notes: list[str] = []
    text = request.text
    text_tokens = tokens(text)

    service, source, score, matched, language = _categorise(request, jurisdiction, notes)
    district, location_status = _place(request, jurisdiction)

    queue_id, priority, agency = service.queue, service.priority, service.agency_responsible
    department_id = service.department_id
    sla_hours, sla_clock = service.sla_hours, service.sla_clock
    rule_id = DEFAULT_RULE_ID
    for rule in jurisdiction.routing_rules:
        if _matches(rule, service, source, district.id if district else None, text_tokens, request.language or language):
            rule_id = rule.id
            change = rule.set_
            if change.queue is not None and change.queue != queue_id:
                queue = jurisdiction.queue(change.queue)
                assert queue is not None  # the loader checked every rule's queue
                queue_id = queue.id
                if queue.department_id != department_id:
                    department_id = queue.department_id
                    owner = jurisdiction.department(department_id)
                    agency = owner.agency_responsible if owner else agency
            priority = change.priority or priority
            agency = change.agency_responsible or agency
            sla_hours = change.sla_hours if change.sla_hours is not None else sla_hours
            sla_clock = change.sla_clock or sla_clock
            break

    started = _sla_start(request, jurisdiction, now_utc, notes)
    try:
        due = jurisdiction.due_at(started, sla_hours, sla_clock)
    except (ValueError, OverflowError) as exc:
        if started == now_utc:
            raise
        # 0001-01-01T00:00:00Z is how Go and .NET clients say "no time": the calendar cannot count from it.
        notes.append(f"requested_datetime {started.isoformat()} cannot start an SLA ({exc}); the SLA starts now")
        started = now_utc
        due = jurisdiction.due_at(started, sla_hours, sla_clock)
    return RoutingDecision(
        jurisdiction_id=jurisdiction.id,
        config_version=jurisdiction.config_version,
        rule_id=rule_id,
        service_code=service.service_code,
        service_name=service.service_name,
        group=service.group,
        category_source=source,
        matched_keywords=list(matched),
        matched_language=language,
        score=score,
        agency_responsible=agency,
        department=department_id,
        queue=queue_id,
        priority=priority,
        district_id=district.id if district else None,
        district_name=district.name if district else None,
        location_status=location_status,
        sla_hours=sla_hours,
        sla_clock=sla_clock,
        sla_started_at=started,
        sla_due_at=due,
        decided_at=now_utc,
        notes=notes,
    )


def _categorise(
    request: RoutingInput, jurisdiction: Jurisdiction, notes: list[str]
) -> tuple[Service, CategorySource, float, tuple[str, ...], str | None]:
    if request.service_code:
        known = jurisdiction.service(request.service_code)
        if known is not None:
            return known, "service_code", 1.0, (), None
        notes.append(f"unknown service_code {request.service_code!r}; classified from the text")
    candidates = classifier_for(jurisdiction).classify(request.text, request.language)
    if candidates:
        best = candidates[0]
        if best.score >= jurisdiction.classification.min_score:
            service = jurisdiction.service(best.service_code)
            assert service is not None  # the classifier is built from these services
            if len(candidates) > 1 and round(candidates[1].raw, 9) == round(best.raw, 9):
                notes.append(f"tie with {candidates[1].service_code!r}, resolved by more keywords, then code order")
            return service, "keywords", best.score, best.matched_keywords, best.language
        notes.append(
            f"best keyword match {best.service_code!r} scored {best.score:.2f} < "
            f"{jurisdiction.classification.min_score:.2f}"
        )
        return jurisdiction.unclassified, "fallback", best.score, best.matched_keywords, best.language
    return jurisdiction.unclassified, "fallback", 0.0, (), None


def _place(request: RoutingInput, jurisdiction: Jurisdiction) -> tuple[District | None, LocationStatus]:
    if request.lat is None or request.long is None:
        return None, "missing"
    if jurisdiction.fallback_location(request.lat, request.long) is not None:
        return None, "fallback"
    if not jurisdiction.contains(request.lat, request.long):
        return None, "outside"
    district = jurisdiction.locate(request.lat, request.long)
    return (district, "district") if district is not None else (None, "no_district")


def _contains_phrase(text_tokens: list[str], phrase: str) -> bool:
    wanted = tokens(phrase)
    if not wanted:
        return False
    n = len(wanted)
    return any(text_tokens[i : i + n] == wanted for i in range(len(text_tokens) - n + 1))


def _matches(
    rule: RoutingRuleSpec,
    service: Service,
    source: CategorySource,
    district_id: str | None,
    text_tokens: list[str],
    language: str | None,
) -> bool:
    m = rule.match
    if m.service_codes and service.service_code not in m.service_codes:
        return False
    if m.groups and service.group not in m.groups:
        return False
    if m.category_sources and source not in m.category_sources:
        return False
    if m.districts and district_id not in m.districts:
        return False
    if m.languages and language not in m.languages:
        return False
    if m.keywords and not any(_contains_phrase(text_tokens, k) for k in m.keywords):
        return False
    return True


def _sla_start(request: RoutingInput, jurisdiction: Jurisdiction, now: datetime, notes: list[str]) -> datetime:
    requested = request.requested_datetime
    if requested is None:
        return now
    if requested.tzinfo is None or requested.utcoffset() is None:
        requested = requested.replace(tzinfo=jurisdiction.calendar.tz)
    try:
        requested = requested.astimezone(UTC)
    except OverflowError:  # 0001-01-01 in a zone east of UTC is before the first representable instant
        notes.append(f"requested_datetime {request.requested_datetime!r} is out of range; the SLA starts now")
        return now
    if requested > now:
        notes.append("requested_datetime is later than now; the SLA starts now")
        return now
    return requested
