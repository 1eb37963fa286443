"""The resident portal's rules (pure): the spam guard's form token, a portal report as an intake message,
a follower's and a survey answer's events, nearby reports ordered by distance, and the category list.
Contract: docs/residents-and-insights.md, "The resident portal (intake_web)" and "Abuse protection"."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

import phonenumbers

from shared.contacts import anonymous_contact_key, contact_key, e164, looks_like_email
from shared.events import FollowRequested, HelpDeflected, MessageReceived, Pii, SurveyAnswered
from shared.jurisdiction.geo import distance_m
from shared.open311 import ServiceRequest

HONEYPOT_FIELD = "website"
"""The form field people never see nor fill (hidden from assistive technology too); a bot that fills it
is refused."""
MAX_DESCRIPTION = 4000
MAX_COMMENT = 2000

SpamReason = Literal["honeypot", "form_token_invalid", "form_too_fast", "form_expired"]


class SpamRefused(ValueError):
    """The spam guard refused a portal form. `reason` is what the refusal log counts: ``honeypot`` (the
    hidden field was filled), ``form_token_invalid`` (missing or not signed by us), ``form_too_fast`` (sent
    sooner than the minimum fill time), ``form_expired`` (older than the form TTL)."""

    def __init__(self, reason: SpamReason) -> None:
        super().__init__(reason)
        self.reason: SpamReason = reason


class FormProblem(ValueError):
    """A portal form a resident must correct: `problems` maps a field name (the input's ``name``) to a
    message key of `domain.i18n`, or to (key, detail) when the text names something (an attribute's
    problem as `shared.open311.attribute_problems` words it)."""

    def __init__(self, problems: Mapping[str, str | tuple[str, str]]) -> None:
        self.problems: dict[str, tuple[str, str]] = {
            k: (v, "") if isinstance(v, str) else v for k, v in problems.items()}
        super().__init__(", ".join(f"{k}: {v[0]} {v[1]}".strip() for k, v in self.problems.items()))


def form_token(secret: str, served_at: datetime) -> str:
    """The token a served report form carries: ``<unix seconds>.<HMAC-SHA256 hex>`` of the time it was
    served (aware UTC), keyed with `secret` (``Settings.portal_form_secret``)."""
    stamp = str(int(served_at.timestamp()))
    return f"{stamp}.{_sign(secret, stamp)}"


def check_form(secret: str, token: str | None, honeypot: str | None, *, now: datetime, min_fill_s: float,
               ttl_s: float) -> None:
    """Pass a portal form, or raise `SpamRefused`: the honeypot must be empty and `token` one of ours,
    served at least `min_fill_s` seconds and at most `ttl_s` seconds before `now` (aware UTC); any other
    text (non-ASCII, non-digit stamp) is ``form_token_invalid``."""
    if honeypot and honeypot.strip():
        raise SpamRefused("honeypot")
    stamp, _, mac = (token or "").partition(".")
    # compared as bytes: compare_digest refuses a str with a non-ASCII character (TypeError, a 500)
    if not (stamp.isascii() and stamp.isdigit()) or not hmac.compare_digest(
            mac.encode("utf-8", "replace"), _sign(secret, stamp).encode()):
        raise SpamRefused("form_token_invalid")
    age = now.timestamp() - int(stamp)
    if age < min_fill_s:
        raise SpamRefused("form_too_fast")
    if age > ttl_s:
        raise SpamRefused("form_expired")


def _sign(secret: str, stamp: str) -> str:
    return hmac.new(secret.encode(), f"omni311-portal-form:{stamp}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Contact:
    """How a resident may be reached: at most one address, the one of their `channel` (``email`` or
    ``sms``); none for an anonymous report."""

    channel: Literal["email", "sms"] | None = None
    email: str | None = None
    phone: str | None = None

    def key(self, fallback: str) -> str:
        """The contact key exactly as the email and SMS channels compute it (`shared.contacts.contact_key`
        of the case-folded address or the E.164 number), else an anonymous key from `fallback`."""
        if self.email:
            return contact_key("email", self.email)
        if self.phone:
            return contact_key("phone", self.phone)
        return anonymous_contact_key("web", fallback)


def parse_contact(form: Mapping[str, Any], *, region: str, anonymous_allowed: bool = True) -> Contact:
    """The contact of a form: ``notify`` (``none``, ``email`` or ``sms``) and the ``email`` or ``phone``
    field it names. Only the address of the chosen channel is kept (the other is not stored). Phone numbers
    without ``+`` are read in `region` (ISO 3166), and an SMS number must be of `region` (`sms_region`):
    texts to other countries cost money and premium-rate numbers abroad are what SMS pumping fraud
    targets. Raises `FormProblem` for a missing or malformed address (``error.phone_region`` for a number
    of another country), or no channel when `anonymous_allowed` is false."""
    notify = str(form.get("notify") or "none").strip()
    if notify not in ("none", "email", "sms") or (notify == "none" and not anonymous_allowed):
        raise FormProblem({"notify": "error.notify"})
    if notify == "email":
        email = str(form.get("email") or "").strip()
        if not looks_like_email(email):
            raise FormProblem({"email": "error.email"})
        return Contact("email", email=email)
    if notify == "sms":
        phone = e164(str(form.get("phone") or ""), region)
        if phone is None:
            raise FormProblem({"phone": "error.phone"})
        if sms_region(phone, region) != region.upper():
            raise FormProblem({"phone": "error.phone_region"})
        return Contact("sms", phone=phone)
    return Contact()


def sms_region(phone_e164: str, region: str) -> str | None:
    """The country (ISO 3166 alpha-2, upper case) of an E.164 number (`phonenumbers.region_code_for_number`;
    +1 is split into US, CA, JM ...). A number the metadata cannot place counts as of `region` when it
    has `region`'s calling code (`shared.contacts.e164` accepts possible numbers of new ranges), else None."""
    number = phonenumbers.parse(phone_e164)
    found = phonenumbers.region_code_for_number(number)
    if found is None and number.country_code == phonenumbers.country_code_for_region(region.upper()):
        return region.upper()
    return found


PORTAL_TOKEN_PREFIX = "web-"
"""How a portal report's token begins (an Open311 POST's never does: it is a bare UUID)."""


def portal_token(fresh: UUID) -> str:
    """A portal report's token (its `channel_message_id`): ``web-`` and a random id."""
    return f"{PORTAL_TOKEN_PREFIX}{fresh}"


def web_event_id(kind: str, channel_message_id: str) -> UUID:
    """The intake event id of one portal submission (`kind`: report, follow, survey, help): a retried
    publish is the very same event."""
    return uuid5(NAMESPACE_URL, f"omni311:web-{kind}:{channel_message_id}")


@dataclass(frozen=True)
class PortalReport:
    """A checked portal report. `attributes`: code → value or list of values; `media_url`: our photos'
    public URLs; `lat`/`long` WGS84 degrees or None when only an address was given."""

    service_code: str
    description: str
    lat: float | None
    long: float | None
    address: str | None
    contact: Contact
    attributes: dict[str, Any] = field(default_factory=dict)
    media_url: tuple[str, ...] = ()
    first_name: str | None = None


def message_from_portal(report: PortalReport, *, token: str, now: datetime, language: str | None
                        ) -> MessageReceived:
    """The `intake.message_received` of a portal report (channel ``web``), keyed by the resident's
    contact key (anonymous: a key of its own from `token`)."""
    c = report.contact
    return MessageReceived(
        channel="web", channel_message_id=token, contact_key=c.key(token), received_at=now,
        service_code=report.service_code, description=report.description, address=report.address,
        lat=report.lat, long=report.long, media_url=list(report.media_url), requested_datetime=now,
        language=language, attributes=dict(report.attributes),
        pii=Pii(email=c.email, phone=c.phone, first_name=report.first_name))


def follow_request(service_request_id: str, contact: Contact, *, request_id: UUID, now: datetime,
                   language: str | None) -> FollowRequested:
    """`intake.follow_requested` for `contact` (an email or a phone, never anonymous). Raises
    `FormProblem` when `contact` has no address."""
    if contact.channel is None:
        raise FormProblem({"notify": "error.notify"})
    return FollowRequested(channel_message_id=f"follow-{request_id}", contact_key=contact.key(str(request_id)),
                           received_at=now, service_request_id=service_request_id, notify_channel=contact.channel,
                           language=language, pii=Pii(email=contact.email, phone=contact.phone))


def parse_rating(form: Mapping[str, Any]) -> tuple[int, str]:
    """The survey form's ``rating`` (1–5) and ``comment`` (trimmed, at most 2000 characters). Raises
    `FormProblem` for a missing or out-of-range rating or a longer comment."""
    raw = str(form.get("rating") or "").strip()
    if raw not in {"1", "2", "3", "4", "5"}:
        raise FormProblem({"rating": "error.rating"})
    comment = str(form.get("comment") or "").strip()
    if len(comment) > MAX_COMMENT:
        raise FormProblem({"comment": "error.comment"})
    return int(raw), comment


def survey_answer(*, service_request_id: str, contact_key: str, jti: str, rating: int, comment: str,
                  now: datetime, language: str | None) -> SurveyAnswered:
    """`intake.survey_answered`: the token's ``jti`` is the message id (one answer per invitation)."""
    return SurveyAnswered(channel_message_id=jti, contact_key=contact_key, received_at=now,
                          service_request_id=service_request_id, rating=rating, comment=comment, language=language)


def deflection(*, article_id: str, service_code: str | None, session_key: str, now: datetime,
               language: str | None) -> HelpDeflected:
    """`intake.help_deflected`: `session_key` is the browser's random key (no personal data). The message id
    is ``dfl-`` + 32 hex digits of SHA-256 over (`session_key`, `article_id`), so one browser saying an
    article answered its question several times publishes the same event, which the consumers' inboxes
    count once."""
    digest = hashlib.sha256(f"{session_key}\0{article_id}".encode()).hexdigest()[:32]
    return HelpDeflected(channel_message_id=f"dfl-{digest}", contact_key=f"web:{session_key}",
                         received_at=now, article_id=article_id, service_code=service_code or None,
                         language=language)


@dataclass(frozen=True)
class Nearby:
    """An open report near a pin: the request and its distance in metres."""

    request: ServiceRequest
    distance_m: float


def nearest(requests: Iterable[ServiceRequest], lat: float, long: float, radius_m: float,
            limit: int = 10) -> list[Nearby]:
    """The requests with a point within `radius_m` metres of (`lat`, `long`), nearest first, at most
    `limit` (the case service already filtered by radius; checked again so a server without the filter
    shows nothing far away)."""
    found = [Nearby(r, distance_m(lat, long, r.lat, r.long)) for r in requests
             if r.lat is not None and r.long is not None]
    return sorted((n for n in found if n.distance_m <= radius_m), key=lambda n: n.distance_m)[:limit]


def service_label(service: Any, language: str) -> str:
    """A service's name in `language` (its ``labels``), else its Open311 ``service_name``."""
    labels = getattr(service, "labels", None) or {}
    return str(labels.get(language) or service.service_name)


def fold(text: str) -> str:
    """`text` lower-cased without accents (NFD, combining marks dropped): the form the category search
    compares (portal.js folds what the resident types the same way)."""
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).casefold()


def search_words(service: Any) -> str:
    """The words the category search matches for `service`, folded (`fold`) and space-joined, no
    repeats: its Open311 ``service_name``, every ``labels`` entry, its ``group`` and its ``keywords`` in
    every language (so "lampadaire" finds a light service on any page)."""
    labels = getattr(service, "labels", None) or {}
    keywords = getattr(service, "keywords", None) or {}
    texts = [service.service_name, *labels.values(), getattr(service, "group", "") or "",
             *(k.text for lang in sorted(keywords) for k in keywords[lang])]
    return " ".join(dict.fromkeys(fold(t).strip() for t in texts if t and t.strip()))


def grouped_services(services: Sequence[Any], language: str) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """The categories for the form's list: (group, [(service_code, label, search words)]) with groups and
    labels sorted alphabetically (accent-insensitive order is good enough with casefold); the search
    words are `search_words`."""
    groups: dict[str, list[tuple[str, str, str]]] = {}
    for sv in services:
        groups.setdefault(sv.group or "", []).append((sv.service_code, service_label(sv, language),
                                                       search_words(sv)))
    return [(g, sorted(items, key=lambda i: i[1].casefold())) for g, items in sorted(groups.items(),
                                                                                     key=lambda kv: kv[0].casefold())]


def in_language(text: str | None, language: str) -> str:
    """One language's half of a bilingual ``English / Français`` text of the jurisdiction file (the first
    half for English, the second for French); the whole text when it is not written that way."""
    parts = [p.strip() for p in (text or "").split(" / ")]
    if len(parts) != 2 or not all(parts):
        return (text or "").strip()
    return parts[1] if language == "fr" else parts[0]


def looks_like_case_number(text: str) -> bool:
    """Whether a tracking query is a case number (``DEMO-26-000042``, the case service's
    ``<PREFIX>-<yy>-<nnnnnn>``) rather than a token."""
    return bool(re.fullmatch(r"[A-Za-z]{2,8}-\d{2,4}-\d{3,9}", text.strip()))
