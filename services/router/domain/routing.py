"""Pure routing: category, district, department queue, priority and SLA due time from a jurisdiction config."""

from __future__ import annotations

from datetime import UTC, datetime

from services.router.domain.classify import classifier_for
from services.router.domain.model import (
    CategorySource,
    LocationStatus,
    ModelSuggestions,
    PlaceLookup,
    RoutingDecision,
    RoutingInput,
)
from shared.events import ClassifierFields, LocationFields, Suggestion
from shared.jurisdiction import District, Jurisdiction, Service, tokens
from shared.jurisdiction.config import ClassifierModelSpec, RoutingRuleSpec

__all__ = ["DEFAULT_RULE_ID", "needs_text_classification", "override_keyword", "route"]

#: ``rule_id`` of a decision that no configured routing rule changed.
DEFAULT_RULE_ID = "default"
#: ``min_probability`` when suggestions come from a model the jurisdiction does not configure (a replay's
#: ``--model``): the key's default.
_DEFAULT_MIN_PROBABILITY: float = ClassifierModelSpec.model_fields["min_probability"].default


def needs_text_classification(request: RoutingInput, jurisdiction: Jurisdiction) -> bool:
    """True when the category must come from the text: no ``service_code`` the jurisdiction knows, and
    some text to read (the caller then asks the learned model, when there is one)."""
    if request.service_code and jurisdiction.service(request.service_code) is not None:
        return False
    return bool(tokens(request.text))


def route(request: RoutingInput, jurisdiction: Jurisdiction, now: datetime, *,
          suggestions: ModelSuggestions | None = None, place: PlaceLookup | None = None) -> RoutingDecision:
    """Decide where one request goes (docs/judgement.md, "Routing with a model"; "Places from words").

    1. Category: the request's ``service_code`` when the jurisdiction knows it; else a keyword marked
       ``override: true`` found in the text (longest phrase first); else, with ``suggestions`` (the learned
       model's top 3), its top 1 when its probability is at least ``classification.model.min_probability``
       (``category_source`` ``keywords``, ``classifier.method`` ``model``), and below it the
       unclassified service (``fallback``, triage) with the same suggestions; without ``suggestions``, the
       best EN/FR keyword match scoring at least ``classification.min_score``, else the unclassified
       service (``classifier.method`` ``keywords``, the top 3 keyword scores as suggestions).
    2. Place: the request's point; else, with ``place`` (the geocoder's lookup), its answer when its
       confidence is at least ``geocoding.accept_from`` (or the resident confirmed it) and it lies in the
       jurisdiction away from a fallback point (``location.status`` ``placed``); from ``confirm_from``
       up to that, ``confirm`` (no point; the resident is asked); else ``not_found``. A failed lookup
       (``place.error``) routes without a place, with a note. District: point in polygon, ``None``
       without a point, at a fallback ("unknown location") point, outside the jurisdiction or in an
       area that is no district.
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

    service, source, score, matched, language, classifier = _categorise(
        request, jurisdiction, notes, text_tokens, suggestions)
    location, point = _judge_place(request, jurisdiction, place, notes)
    district, location_status = _place(point, jurisdiction)

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
        classifier=classifier,
        location=location,
        model_version=suggestions.model_version if suggestions is not None else None,
    )


def _categorise(
    request: RoutingInput, jurisdiction: Jurisdiction, notes: list[str], text_tokens: list[str],
    suggestions: ModelSuggestions | None,
) -> tuple[Service, CategorySource, float, tuple[str, ...], str | None, ClassifierFields | None]:
    if request.service_code:
        known = jurisdiction.service(request.service_code)
        if known is not None:
            return known, "service_code", 1.0, (), None, None
        notes.append(f"unknown service_code {request.service_code!r}; classified from the text")
    version = suggestions.model_version if suggestions is not None else None
    found = override_keyword(text_tokens, jurisdiction)
    if found is not None:
        service, phrase, language = found
        classifier = ClassifierFields(method="keywords", model_version=version,
                                      suggestions=[Suggestion(service_code=service.service_code, probability=1.0)])
        notes.append(f"override keyword {phrase!r} chose {service.service_code!r}")
        return service, "keywords", 1.0, (phrase,), language, classifier
    if suggestions is not None:
        return _by_model(jurisdiction, notes, suggestions)
    candidates = classifier_for(jurisdiction).classify(request.text, request.language)
    classifier = ClassifierFields(method="keywords", suggestions=[
        Suggestion(service_code=c.service_code, probability=c.score) for c in candidates[:3]])
    if candidates:
        best = candidates[0]
        if best.score >= jurisdiction.classification.min_score:
            service = jurisdiction.service(best.service_code)
            assert service is not None  # the classifier is built from these services
            if len(candidates) > 1 and round(candidates[1].raw, 9) == round(best.raw, 9):
                notes.append(f"tie with {candidates[1].service_code!r}, resolved by more keywords, then code order")
            return service, "keywords", best.score, best.matched_keywords, best.language, classifier
        notes.append(
            f"best keyword match {best.service_code!r} scored {best.score:.2f} < "
            f"{jurisdiction.classification.min_score:.2f}"
        )
        return jurisdiction.unclassified, "fallback", best.score, best.matched_keywords, best.language, classifier
    return jurisdiction.unclassified, "fallback", 0.0, (), None, classifier


def _by_model(jurisdiction: Jurisdiction, notes: list[str], suggestions: ModelSuggestions
              ) -> tuple[Service, CategorySource, float, tuple[str, ...], str | None, ClassifierFields]:
    top = suggestions.suggestions[:3]
    classifier = ClassifierFields(method="model", model_version=suggestions.model_version, suggestions=top)
    spec = jurisdiction.classification.model
    threshold = spec.min_probability if spec is not None else _DEFAULT_MIN_PROBABILITY
    if not top:
        notes.append("nothing for the model to read; unclassified")
        return jurisdiction.unclassified, "fallback", 0.0, (), None, classifier
    best = top[0]
    service = jurisdiction.service(best.service_code)
    if service is None or service.service_code == jurisdiction.unclassified.service_code:
        notes.append(f"the model's top service {best.service_code!r} is no service of {jurisdiction.id}; unclassified")
        return jurisdiction.unclassified, "fallback", best.probability, (), None, classifier
    if best.probability < threshold:
        notes.append(f"the model's top service {best.service_code!r} has probability {best.probability:.2f} < "
                     f"{threshold:.2f}; triage with its suggestions")
        return jurisdiction.unclassified, "fallback", best.probability, (), None, classifier
    return service, "keywords", best.probability, (), None, classifier


def override_keyword(text_tokens: list[str], jurisdiction: Jurisdiction) -> tuple[Service, str, str] | None:
    """The service whose ``override: true`` keyword phrase is in the text (as whole normalised words, in
    order), with the phrase and its language; the longest phrase wins, then the service order of the
    configuration. None when no override keyword is in the text."""
    best: tuple[int, Service, str, str] | None = None
    if not text_tokens:
        return None
    for service in jurisdiction.services:
        for language, words in sorted(service.keywords.items()):
            for keyword in words:
                if not keyword.override or not _contains_phrase(text_tokens, keyword.text):
                    continue
                length = len(tokens(keyword.text))
                if best is None or length > best[0]:
                    best = (length, service, keyword.text, language)
    return None if best is None else (best[1], best[2], best[3])


def _judge_place(request: RoutingInput, jurisdiction: Jurisdiction, lookup: PlaceLookup | None,
                 notes: list[str]) -> tuple[LocationFields | None, tuple[float, float] | None]:
    """How the request is placed (``location``) and the point that decides its district."""
    if request.lat is not None and request.long is not None:
        return LocationFields(status="point"), (request.lat, request.long)
    if lookup is None:
        return None, None
    if lookup.error is not None:
        notes.append(f"the geocoder failed ({lookup.error}); routed without a place")
        return None, None
    answer = lookup.answer
    if answer is None:
        if lookup.query is None:
            notes.append("no place written in the text")
        return LocationFields(status="not_found", query=lookup.query), None
    spec = jurisdiction.geocoding
    found = {"source": answer.source, "confidence": answer.confidence, "query": lookup.query or answer.query}
    if jurisdiction.fallback_location(answer.lat, answer.long) is not None:
        notes.append(f"the geocoder's answer {answer.matched!r} is a fallback point, which is no place")
        return LocationFields(status="not_found", **found), None
    if not jurisdiction.contains(answer.lat, answer.long):
        notes.append(f"the geocoder's answer {answer.matched!r} lies outside {jurisdiction.id}")
        return LocationFields(status="not_found", **found), None
    described = {**found, "matched": answer.matched, "kind": answer.kind}
    if lookup.confirmed or answer.confidence >= spec.accept_from:
        if lookup.confirmed:
            notes.append(f"the resident confirmed {answer.matched!r}")
        return LocationFields(status="placed", lat=answer.lat, long=answer.long, **described), (answer.lat, answer.long)
    if answer.confidence >= spec.confirm_from:
        return LocationFields(status="confirm", **described), None
    notes.append(f"the geocoder's best answer {answer.matched!r} has confidence {answer.confidence:.2f} < "
                 f"{spec.confirm_from:.2f}")
    return LocationFields(status="not_found", **found), None


def _place(point: tuple[float, float] | None, jurisdiction: Jurisdiction) -> tuple[District | None, LocationStatus]:
    if point is None:
        return None, "missing"
    lat, long = point
    if jurisdiction.fallback_location(lat, long) is not None:
        return None, "fallback"
    if not jurisdiction.contains(lat, long):
        return None, "outside"
    district = jurisdiction.locate(lat, long)
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
