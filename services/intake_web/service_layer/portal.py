"""The resident portal's handlers: a report form checked and published (through `service_layer.intake`),
photos processed and stored, nearby open reports, tracking, following, the satisfaction survey and help
deflections. Each takes `Deps`; the routes (`entrypoints/portal.py`) only translate HTTP.

Produces on `intake.messages` (acks=all, before the resident gets an answer): `intake.message_received`
(channel ``web``), `intake.follow_requested`, `intake.survey_answered`, `intake.help_deflected`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from services.intake_web.domain.agent import default_region
from services.intake_web.domain.limits import check_jurisdiction, field_values
from shared.media.photos import NotAnImage, process_photo
from services.intake_web.domain.portal import (
    HONEYPOT_FIELD,
    MAX_DESCRIPTION,
    Contact,
    FormProblem,
    Nearby,
    PortalReport,
    check_form,
    deflection,
    follow_request,
    form_token,
    grouped_services,
    nearest,
    parse_contact,
    parse_rating,
    service_label,
    survey_answer,
    web_event_id,
)
from services.intake_web.service_layer.deps import Deps
from services.intake_web.service_layer.intake import Accepted, submit_web
from shared.events import Envelope
from shared.intake import CaseApiUnavailable
from shared.jurisdiction.help import HelpArticle, match_articles
from shared.open311 import (
    InvalidPostServiceRequest,
    ServiceDefinition,
    ServiceRequest,
    attribute_parameters,
    attribute_problems,
    is_blank,
    web_point,
)
from shared.surveys import SurveyInvitation, read_survey_token, survey_contact_key

MAX_PHOTOS = 5
"""Photos one report may carry."""


class UploadTooLarge(ValueError):
    """An uploaded file is larger than `Settings.max_upload_bytes`."""


class UnusablePhotos(FormProblem):
    """Photo ids posted with a report (``photo_id`` fields) that are not a photo kept here, or one another
    published report already uses: `ids` (as sent). A 400 naming the ``photo`` field; the form is shown
    again without them."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = tuple(ids)
        super().__init__({"photo": ("error.photo_id", str(len(self.ids)))})


class SurveyAlreadyAnswered(ValueError):
    """This invitation (`jti`) was answered before: one answer per invitation."""


class UnknownCase(LookupError):
    """The case service has no case with this number."""


@dataclass(frozen=True)
class StoredPhoto:
    """A photo kept: its id and public URL (``{public_base_url}/media/{id}.jpg``)."""

    id: UUID
    url: str


def media_url(deps: Deps, photo_id: UUID) -> str:
    """The public URL of a stored photo (Open311 `media_url`)."""
    return f"{deps.site.settings.public_base_url.rstrip('/')}/media/{photo_id}.jpg"


async def store_photo(deps: Deps, data: bytes, *, photo_id: UUID | None = None) -> StoredPhoto:
    """Process (`shared.media.photos.process_photo`, in a worker thread) and keep one uploaded image, as
    `photo_id` (default: a new id); a `photo_id` kept before keeps its photo (a retried request). At most
    `Settings.photo_workers` are processed at once (`PortalDeps.photo_gate`). Raises `UploadTooLarge` over
    `max_upload_bytes`, `NotAnImage` for anything else than a readable image, `PhotosBusy` when every
    worker is busy and the waiting line full."""
    if len(data) > deps.site.settings.max_upload_bytes:
        raise UploadTooLarge(f"a photo may hold at most {deps.site.settings.max_upload_bytes} bytes")
    if not data:
        raise NotAnImage("empty file")
    photo = await deps.site.photo_gate.run(process_photo, data)
    photo_id = photo_id or deps.new_id()
    await deps.site.store.add_photo(photo_id=photo_id, jpeg=photo.jpeg, width=photo.width, height=photo.height,
                                    now=deps.clock())
    deps.log.info("photo_stored", photo_id=str(photo_id), width=photo.width, height=photo.height,
                  bytes=len(photo.jpeg))
    return StoredPhoto(photo_id, media_url(deps, photo_id))


def read_report(deps: Deps, form: Any, *, photo_urls: Sequence[str]) -> PortalReport:
    """A portal report form (`form`: FormData) as a `PortalReport`, with the checks of an Open311 POST
    (the service offered, a point the location check accepts, `shared.open311.web_point`: a 0,0 placeholder
    or a point off the Earth ignored when an address came with it, its verdict kept in the report's
    `attributes` as ``location_check``; the service's attributes answered as its
    definition says; `jurisdiction_id` if given) and the portal's own (a description of at most 4000
    characters that shows something, `shared.open311.is_blank`, a place: pin or address, the contact chosen). Raises `FormProblem` naming every field to
    correct, and `services.intake_web.domain.limits.Refused` for another jurisdiction's id."""
    check_jurisdiction(field_values(form, "jurisdiction_id"), deps.jurisdiction.id)
    problems: dict[str, str | tuple[str, str]] = {}
    code = str(form.get("service_code") or "").strip()
    service = deps.jurisdiction.service(code) if code in deps.service_codes else None
    if service is None:
        problems["service_code"] = "error.service_code"
    description = str(form.get("description") or "").strip()
    if is_blank(description) or len(description) > MAX_DESCRIPTION:  # blank: also only zero-width characters
        problems["description"] = "error.description"
    lat, long = degrees(form.get("lat")), degrees(form.get("long"))
    address = str(form.get("address") or "").strip()[:500] or None
    location_check = None
    if lat is not None and long is not None:
        check, refused = web_point(lat, long, contains=deps.jurisdiction.contains, has_address=address is not None)
        lat, long, location_check = check.lat, check.long, check.as_attribute()
        if refused:  # a pin outside (or swapped) is to be moved; a placeholder without an address needs one
            problems.update({"lat": "error.place_outside"} if check.usable else {"address": "error.place"})
    else:
        lat = long = None
        if address is None:
            problems["address"] = "error.place"
    answers: dict[str, Any] = {}
    try:  # read as Open311 reads them: a malformed name such as attribute[a[b]] is a problem, never skipped
        given = attribute_parameters(form)
    except InvalidPostServiceRequest as exc:
        problems["attributes"] = ("error.attribute", "; ".join(e.description for e in exc.errors))
        given = None
    if service is not None and given is not None:
        definition = ServiceDefinition.model_validate(service.definition())
        for a in definition.attributes:
            if a.datatype == "datetime" and isinstance(given.get(a.code), str):
                given[a.code] = local_datetime(str(given[a.code]), deps.jurisdiction.timezone)
        found, answers = attribute_problems(definition, given)
        fields = {a.code for a in definition.attributes}
        for code, sentence in found:  # an answer to a code the service lacks has no field of its own
            problems.setdefault(f"attribute[{code}]" if code in fields else "attributes", ("error.attribute", sentence))
    region = default_region(deps.jurisdiction, deps.agent.default_region)
    try:
        contact = parse_contact(form, region=region)
    except FormProblem as exc:
        problems.update(exc.problems)
        contact = Contact()
    if problems:
        raise FormProblem(problems)
    first_name = str(form.get("first_name") or "").strip()[:100] or None
    checked = {"location_check": location_check} if location_check else {}
    return PortalReport(service_code=code, description=description, lat=lat, long=long, address=address,
                        contact=contact, attributes={**answers, **checked}, media_url=tuple(photo_urls)[:MAX_PHOTOS],
                        first_name=first_name if contact.channel else None)


def local_datetime(text: str, timezone: str) -> str:
    """A browser's ``datetime-local`` value (no offset, e.g. ``2026-11-30T14:00``) as ISO 8601 in the
    jurisdiction's `timezone`; any other text as given (the attribute check judges it)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    return moment.isoformat() if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone)).isoformat()


def coordinate(raw: Any) -> float | None:
    """A latitude or longitude typed in a form (degrees), None for what is not a finite number."""
    try:
        value = float(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def degrees(raw: Any) -> float | None:
    """A latitude or longitude as a report form sends it (degrees), for the location check to judge: any
    number `float` reads (NaN, infinities and values off the Earth included); None for no number."""
    try:
        return float(str(raw).strip()) if raw is not None else None
    except ValueError:
        return None


def photo_ids(form: Any) -> list[UUID]:
    """The ids of photos uploaded beforehand (``photo_id`` fields), each once; anything not a UUID is
    ignored."""
    found: list[UUID] = []
    values = form.getlist("photo_id") if hasattr(form, "getlist") else form.get("photo_id", [])
    for raw in values:
        try:
            pid = UUID(str(raw))
        except ValueError:
            continue
        if pid not in found:
            found.append(pid)
    return found[:MAX_PHOTOS]


async def check_photo_ids(deps: Deps, form: Any) -> None:
    """Every ``photo_id`` field of a report form names a photo uploaded here (`store_photo`) that no
    published report uses yet: a made-up id would give a case a broken image, and another report's public
    photo id would attach a stranger's photo. Raises `UnusablePhotos` naming the others (a value that is
    not a UUID included). Two reports sent at the same instant with the same still-unused id both pass (no
    lock): such an id is one only its uploader has seen until a report uses it."""
    raw = list(dict.fromkeys(v.strip() for v in field_values(form, "photo_id") if v.strip()))
    if not raw:
        return
    ids = {v: _uuid(v) for v in raw}
    usable = await deps.site.store.unused_photos({u for u in ids.values() if u is not None})
    bad = [v for v, u in ids.items() if u not in usable]
    if bad:
        raise UnusablePhotos(bad)


def _uuid(value: str) -> UUID | None:
    """`value` as a UUID; None when it is not one."""
    try:
        return UUID(value)
    except ValueError:
        return None


def check_spam_guard(deps: Deps, form: Any) -> None:
    """The portal forms' spam guard (`domain.portal.check_form`): the ``website`` honeypot empty and the
    ``form_token`` one we served between `portal_min_fill_s` and `portal_form_ttl_s` seconds ago. Raises
    `SpamRefused`."""
    s = deps.site.settings
    check_form(s.portal_form_secret, str(form.get("form_token") or ""), str(form.get(HONEYPOT_FIELD) or ""),
               now=deps.clock(), min_fill_s=s.portal_min_fill_s, ttl_s=s.portal_form_ttl_s)


async def submit_report(deps: Deps, form: Any, *, files: Sequence[bytes], language: str) -> Accepted:
    """Check the spam guard (`domain.portal.check_form`: honeypot, form token's age), read the report
    (`read_report`), store the photos sent with the form itself (no-JavaScript path) and publish the
    report (`service_layer.intake.submit_web`). Raises `SpamRefused`, `FormProblem` (`UnusablePhotos` for a
    ``photo_id`` not uploaded here or already used, `check_photo_ids`), `Refused`,
    `UploadTooLarge`, `NotAnImage` (nothing is published then)."""
    check_spam_guard(deps, form)
    ids = photo_ids(form)
    urls = [media_url(deps, pid) for pid in ids]
    read_report(deps, form, photo_urls=urls)  # every field checked before a photo is stored
    await check_photo_ids(deps, form)
    for data in files[:MAX_PHOTOS - len(urls)]:
        stored = await store_photo(deps, data)
        ids.append(stored.id)
        urls.append(stored.url)
    report = read_report(deps, form, photo_urls=urls)
    accepted = await submit_web(deps, report, language=language)
    await use_photos(deps, accepted.token, ids)
    return accepted


async def use_photos(deps: Deps, token: str, ids: Sequence[UUID]) -> None:
    """Record that the published report `token` uses the photos `ids`, so its case's
    `case.personal_data_erased` deletes them and the unused-photo sweep leaves them. Recorded after the
    publish: a crash in between leaves the photos unused (swept after `photo_unused_ttl_s`), never kept
    for ever."""
    if ids:
        await deps.site.store.use_photos(token=token, photo_ids=list(ids), now=deps.clock())


async def sweep_unused_photos(deps: Deps) -> int:
    """Delete the photos kept more than `Settings.photo_unused_ttl_s` seconds ago that no published report
    used (uploaded for a report never sent); returns how many."""
    before = deps.clock() - timedelta(seconds=deps.site.settings.photo_unused_ttl_s)
    gone = await deps.site.store.delete_unused_photos(created_before=before)
    if gone:
        deps.log.info("unused_photos_deleted", photos=gone)
    return gone


async def nearby_reports(deps: Deps, *, service_code: str, lat: float, long: float) -> list[Nearby]:
    """Open reports of `service_code` within `Settings.portal_nearby_radius_m` metres of the pin, nearest
    first (at most 10). Raises `CaseApiUnavailable`."""
    radius = deps.site.settings.portal_nearby_radius_m
    found = await deps.site.reads.nearby(service_code=service_code, lat=lat, long=long, radius_m=radius)
    return nearest([r for r in found if r.service_code == service_code and r.status == "open"], lat, long, radius)


def help_for(deps: Deps, *, service_code: str | None, query: str) -> list[HelpArticle]:
    """The help articles for a category or typed words (`shared.jurisdiction.help.match_articles`)."""
    return match_articles(deps.site.help, service_code=service_code or None, query=query[:200])


def help_article(deps: Deps, article_id: str) -> HelpArticle | None:
    """The article with this id, or None."""
    return next((a for a in deps.site.help if a.id == article_id), None)


async def help_answered(deps: Deps, article: HelpArticle, *, service_code: str | None, session_key: str,
                        language: str) -> Envelope:
    """Publish `intake.help_deflected`: the article answered the resident's question."""
    code = service_code if service_code in deps.service_codes else None
    now = deps.clock()
    event = deflection(article_id=article.id, service_code=code, session_key=session_key, now=now,
                       language=language)
    env = Envelope.new_flow(event, subject=event.contact_key, producer=deps.producer, now=now,
                            event_id=web_event_id("help", event.channel_message_id))
    await deps.publisher.publish(env)
    deps.log.info("help_deflected", article_id=article.id, event_id=str(env.event_id))
    return env


async def case_page(deps: Deps, service_request_id: str) -> tuple[ServiceRequest, dict[str, Any] | None]:
    """A case and its public history (None when the case service does not give one). Raises
    `UnknownCase` and `CaseApiUnavailable` (for the case itself)."""
    case = await deps.site.reads.request(service_request_id)
    if case is None:
        raise UnknownCase(service_request_id)
    try:
        history = await deps.site.reads.history(service_request_id)
    except CaseApiUnavailable as exc:  # the page still shows the case and its status meanwhile
        deps.log.warning("history_unavailable", service_request_id=service_request_id, error=str(exc))
        history = None
    return case, history


def form_attributes(deps: Deps, code: str | None) -> list[Any]:
    """The questions of category `code` (its Open311 attributes, `AttributeSpec`) in their `order`; none
    for no or an unknown category."""
    service = deps.jurisdiction.service(code) if code and code in deps.service_codes else None
    if service is None:
        return []
    return sorted(service.attributes, key=lambda a: (a.order is None, a.order or 0))


def report_form(deps: Deps, values: Any, *, lang: str, problems: Mapping[str, tuple[str, str]] | None = None,
                notice: str | None = None, drop_photos: Sequence[str] = ()) -> dict[str, Any]:
    """What the report form shows (the template context of ``portal_report.html``): the categories grouped
    in `lang`, the chosen one's questions and help articles, `values` sent before (a `FormData` or the
    query), `problems` by field, a `notice` (message key), a fresh form token, the district polygons, the
    upload limit in MB and the photos uploaded before (but `drop_photos`, ids refused by `check_photo_ids`)."""
    code = str(values.get("service_code") or "") or None
    multi = values.getlist if hasattr(values, "getlist") else (lambda k: [values[k]] if k in values else [])
    s = deps.site.settings
    return {
        "groups": grouped_services(deps.jurisdiction.services, lang), "values": values, "multi": multi,
        "code": code, "attributes": form_attributes(deps, code), "problems": dict(problems or {}), "notice": notice,
        "form_token": form_token(s.portal_form_secret, deps.clock()),
        "articles": help_for(deps, service_code=code, query="") if code else [],
        "districts": deps.districts_geojson(), "max_mb": max(1, s.max_upload_bytes // 1_048_576),
        "photo_ids": [str(p) for p in photo_ids(values) if str(p) not in drop_photos]
        if hasattr(values, "getlist") else [],
        "media_prefix": "/media/", "title_key": "report.title", "active": "report",
    }


def case_view(deps: Deps, case: ServiceRequest, history: dict[str, Any] | None, *, lang: str,
              **extra: Any) -> dict[str, Any]:
    """What the tracking page shows (the context of ``portal_case.html``): the case, its public `history`,
    its photos (ours as ``/media/<id>.jpg``), category labels in `lang`, the district polygons and the follow
    form (a fresh form token); `extra` overrides (``values``, ``problems`` of a follow sent again)."""
    service = deps.jurisdiction.service(case.service_code) if case.service_code else None
    photos = [photo_src(deps, case.media_url)] if case.media_url else []

    def label_of(code: str | None) -> str | None:
        known = deps.jurisdiction.service(code) if code else None
        return service_label(known, lang) if known else None

    return {"case": case, "history": history, "photos": photos, "label_of": label_of,
            "label": service_label(service, lang) if service else (case.service_name or case.service_code or ""),
            "districts": deps.districts_geojson(), "values": {}, "problems": {}, "followed": False,
            "form_token": form_token(deps.site.settings.portal_form_secret, deps.clock()), "title_key": None,
            **extra}


def photo_src(deps: Deps, url: str) -> str:
    """Our own photo's path (``/media/<id>.jpg``), served from here whatever host its public URL names (a
    proxy, another port); any other URL as it is."""
    base = deps.site.settings.public_base_url.rstrip("/")
    return url.removeprefix(base) if url.startswith(base + "/media/") else url


async def follow(deps: Deps, service_request_id: str, form: Mapping[str, Any], *, language: str) -> Envelope:
    """Publish `intake.follow_requested` for the address chosen in `form` (``notify`` ``email`` or ``sms``
    and that field), behind the report form's spam guard (`check_spam_guard`: the tracking page's and the
    report form's `form_token`, the ``website`` honeypot) so a script cannot subscribe addresses to case
    notices; an SMS number must be of the jurisdiction's country (`domain.portal.parse_contact`). Raises
    `SpamRefused`, `FormProblem`, `UnknownCase` (when the case service says there is no such case; while
    it cannot tell, the follow is published and the case service decides)."""
    check_spam_guard(deps, form)
    region = default_region(deps.jurisdiction, deps.agent.default_region)
    contact = parse_contact(form, region=region, anonymous_allowed=False)
    try:
        known = await deps.site.reads.request(service_request_id) is not None
    except CaseApiUnavailable as exc:  # the case service decides on a case it could not confirm here
        deps.log.warning("follow_unconfirmed", service_request_id=service_request_id, error=str(exc))
        known = True
    if not known:
        raise UnknownCase(service_request_id)
    now = deps.clock()
    event = follow_request(service_request_id, contact, request_id=deps.new_id(), now=now, language=language)
    env = Envelope.new_flow(event, subject=event.contact_key, producer=deps.producer, now=now,
                            event_id=web_event_id("follow", event.channel_message_id))
    await deps.publisher.publish(env)
    deps.log.info("follow_requested", event_id=str(env.event_id), notify_channel=contact.channel)
    return env


def survey_invitation(deps: Deps, token: str) -> SurveyInvitation:
    """The invitation a survey token carries (`shared.surveys`: the case, the invitation id, the language).
    Raises `InvalidSurveyToken` for a token that is malformed, truncated, forged or expired."""
    return read_survey_token(deps.site.settings.survey_secret, token, now=deps.clock())


async def answer_survey(deps: Deps, token: str, form: Mapping[str, Any], *, language: str) -> Envelope:
    """Publish `intake.survey_answered` once per invitation (`jti`), then record the invitation answered in
    `intake_web.survey_answers`. The publish comes first so that a crash between the two never loses an
    answer: the event id derives from the `jti` (`web_event_id`), so an answer sent again after such a
    crash is the same event, and the case service keeps one answer per `jti`. The event names the
    invitation, not the reporter (`contact_key` ``survey:<jti>``): the token holds no contact data, and
    the case service finds which reporter answered. Raises `InvalidSurveyToken`, `FormProblem`,
    `SurveyAlreadyAnswered` (the invitation was answered before: nothing published; or an answer sent at
    the same moment was recorded first: the same event again), and the publisher's or the store's errors
    (the resident may send it again)."""
    invitation = survey_invitation(deps, token)
    rating, comment = parse_rating(form)
    store = deps.site.store
    if await store.survey_answered(invitation.jti):
        raise SurveyAlreadyAnswered(invitation.jti)
    now = deps.clock()
    event = survey_answer(service_request_id=invitation.service_request_id,
                          contact_key=survey_contact_key(invitation.jti), jti=invitation.jti, rating=rating,
                          comment=comment, now=now, language=invitation.language or language)
    env = Envelope.new_flow(event, subject=event.contact_key, producer=deps.producer, now=now,
                            event_id=web_event_id("survey", invitation.jti))
    await deps.publisher.publish(env)
    if not await store.claim_survey(jti=invitation.jti, service_request_id=invitation.service_request_id, now=now):
        # another answer to this invitation was published and recorded meanwhile (a double submit): the
        # case service keeps the first it reads, one per jti
        raise SurveyAlreadyAnswered(invitation.jti)
    deps.log.info("survey_answered", event_id=str(env.event_id), rating=rating)
    return env

