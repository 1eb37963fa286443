"""Resident profiles (docs/integrations.md section 3): a resident links an email address and a phone number
by typing the two codes the notifier sends there (`request_link`, `confirm_link`); staff link contacts,
change a profile's preferences and unlink a contact (`link_by_staff`, `set_preferences`, `unlink`).

Each request is one unit of work; a refusal raises `ProfileError` (its status, a short `error` word and a
sentence) before anything is written, or rolls back what was. A link request's codes are sent after its
row is committed (the intent: codes as HMAC digests, both sends `sending`), and how the sends ended is
recorded in a second unit of work (STYLE rule 11); a crash in between leaves a request that expires
unconfirmed. Nothing here is published: a profile is the notifier's own.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import make_msgid
from typing import Any
from uuid import UUID

from services.notifier.adapters.repository import NotifierRepository
from services.notifier.domain.channels import short_text
from services.notifier.domain.messages import Notice, compose_email, recipient_key
from services.notifier.domain.outcomes import send_failure
from services.notifier.domain.profiles import (
    CHANNEL_KIND,
    ContactProblem,
    LinkedContact,
    LinkRequest,
    Profile,
    code_digest,
    joined_preferences,
    judge_codes,
    read_contact,
    survivor_of,
    textable_here,
)
from services.notifier.service_layer.handlers import Senders
from shared.logs import get_logger
from shared.service_layer import UnitOfWork

log = get_logger(__name__)

Uow = UnitOfWork[NotifierRepository]
RATE_WINDOW = timedelta(hours=1)


class ProfileError(Exception):
    """A refused profile request: HTTP `status`, a short `error` word (``invalid_contact``,
    ``rate_limited``, ``unknown``, ``expired``...), the `detail` sentence, `extra` fields for the answer
    (e.g. `attempts_left`) and `headers` (e.g. `Retry-After`)."""

    def __init__(self, status: int, error: str, detail: str, *, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail
        self.extra = extra or {}
        self.headers = headers or {}


@dataclass(frozen=True)
class Linking:
    """What the profile requests need: the `senders` (the notifier's Twilio and mail senders), the code
    digest `secret`, a code's validity `ttl_s` (seconds), its tries `max_attempts`, the link requests
    allowed per address and hour (`per_hour`), the `region` phone numbers are read in (ISO 3166 alpha-2:
    the jurisdiction's) and the clock `now` (aware UTC)."""

    senders: Senders
    secret: str
    ttl_s: float = 600.0
    max_attempts: int = 5
    per_hour: int = 3
    region: str = "US"
    now: Callable[[], datetime] | None = None


def new_code() -> str:
    """Six random digits (``secrets``), leading zeros kept."""
    return f"{secrets.randbelow(10**6):06d}"


def _contact(kind: str, value: str, region: str, linked_by: str, at: datetime, field: str) -> LinkedContact:
    try:
        address, key = read_contact(kind, value, region)
    except ContactProblem as exc:
        raise ProfileError(422, "invalid_contact", f"{field}: {exc}") from None
    return LinkedContact(contact_key=key, kind=kind, address=address, linked_by=linked_by, linked_at=at)


# --- the resident: codes by SMS and email --------------------------------------------------------------


async def request_link(unit_of_work: Callable[[], Uow], linking: Linking, *, email: str, phone: str,
                       preferred_channel: str | None, language: str, link_id: UUID,
                       codes: tuple[str, str] | None = None) -> LinkRequest:
    """Ask to link `email` and `phone`: keep the request (its two codes as digests, valid `ttl_s`), then
    text one code to the phone and email the other, in `language`. `codes` (email code, SMS code) are new
    random ones unless given (tests). Returns the request. Raises `ProfileError`: 422 for an address or a
    number that is not one, a number of another country than `region`, a number that texted STOP or an
    address that bounced; 429 when either address had `per_hour` requests in the last hour (nothing is
    kept then); 502 when a code could not be sent (the request is kept, counted, and expires unused)."""
    email_code, sms_code = codes or (new_code(), new_code())
    async with unit_of_work() as uow:
        now = uow.now
        mail = _contact("email", email, linking.region, "resident", now, "email")
        text = _contact("phone", phone, linking.region, "resident", now, "phone")
        if not textable_here(text.address, linking.region):
            raise ProfileError(422, "invalid_contact",
                               "phone: we can send text messages only to phone numbers of this country")
        opted_out, _ = await uow.repo.blocks(recipient_key("sms", text.address))
        if opted_out:
            raise ProfileError(422, "invalid_contact", "phone: this number asked us not to text it (STOP); "
                                                       "texting START allows texts again")
        _, bounced = await uow.repo.blocks(recipient_key("email", mail.address))
        if bounced:
            raise ProfileError(422, "invalid_contact", "email: mail to this address bounced")
        await uow.repo.lock_contact_keys([mail.contact_key, text.contact_key])
        by_email, by_phone = await uow.repo.link_requests_since(mail.contact_key, text.contact_key,
                                                                now - RATE_WINDOW)
        if max(by_email, by_phone) >= linking.per_hour:
            raise ProfileError(429, "rate_limited", f"at most {linking.per_hour} codes per address and hour",
                               headers={"Retry-After": str(int(RATE_WINDOW.total_seconds()))})
        request = LinkRequest(
            link_id=link_id, email=mail.address, phone=text.address, email_key=mail.contact_key,
            phone_key=text.contact_key, preferred_channel=preferred_channel, language=language,
            email_code_hash=code_digest(linking.secret, link_id, "email", email_code),
            sms_code_hash=code_digest(linking.secret, link_id, "sms", sms_code), attempts=0,
            max_attempts=linking.max_attempts, created_at=now, expires_at=now + timedelta(seconds=linking.ttl_s))
        await uow.repo.add_link_request(request)
    statuses, error = await _send_codes(linking, request, email_code, sms_code)
    async with unit_of_work() as uow:
        await uow.repo.record_code_sends(link_id, email_status=statuses[0], sms_status=statuses[1], error=error)
    log.info("link_requested", link_id=str(link_id), email=statuses[0], sms=statuses[1])
    if error is not None:
        raise ProfileError(502, "code_not_sent", "a code could not be sent; ask again later")
    return request


async def _send_codes(linking: Linking, request: LinkRequest, email_code: str, sms_code: str
                      ) -> tuple[tuple[str, str], str | None]:
    """Text the SMS code, then (when it left) email the other; ((email status, SMS status), first error)."""
    senders = linking.senders
    minutes = max(1, round(linking.ttl_s / 60))
    sms = Notice(kind="link_code", service_request_id="", language=request.language, code=sms_code,
                 valid_minutes=minutes)
    try:
        if senders.twilio is None:
            raise RuntimeError("Twilio is not configured (OMNI311_TWILIO_ACCOUNT_SID/AUTH_TOKEN/FROM_NUMBER)")
        await senders.twilio.send(request.phone, short_text(sms, senders.program_name))
    except Exception as exc:  # noqa: BLE001 - recorded on the request; the resident asks again
        log.warning("link_code_not_sent", link_id=str(request.link_id), channel="sms", error=send_failure(exc))
        return ("failed", "failed"), f"sms: {send_failure(exc)}"
    mail = Notice(kind="link_code", service_request_id="", language=request.language, code=email_code,
                  valid_minutes=minutes)
    try:
        message = compose_email(mail, to_address=request.email, from_address=senders.mail_from,
                                from_name=senders.mail_from_name, now=request.created_at,
                                message_id=make_msgid(domain=senders.mail_from.partition("@")[2] or None))
        await senders.send_email(message)
    except Exception as exc:  # noqa: BLE001
        log.warning("link_code_not_sent", link_id=str(request.link_id), channel="email", error=send_failure(exc))
        return ("failed", "sent"), f"email: {send_failure(exc)}"
    return ("sent", "sent"), None


@dataclass(frozen=True)
class Confirmation:
    """What a confirmation did: the `profile` linked (None when a code did not match), and the tries
    left (`attempts_left`) after a mismatch."""

    profile: Profile | None
    attempts_left: int = 0


async def confirm_link(uow: Uow, linking: Linking, link_id: UUID, *, email_code: str, sms_code: str,
                       new_profile_id: UUID) -> Confirmation:
    """Check the two codes of link request `link_id`; both right: link its email and phone into one
    profile (`_link`: a contact that already has a profile joins it, and profiles of both contacts are
    joined), with the request's preferences, and return it; the same right codes again return that
    profile. A wrong code counts one try and returns no profile with the tries left (committed: the
    count must stay). Raises `ProfileError` 404 for an unknown request, 410 when it expired, its tries
    are used up, or it was confirmed before (with other codes)."""
    request = await uow.repo.link_request(link_id)
    if request is None:
        raise ProfileError(404, "unknown", "no such link request")
    verdict = judge_codes(request, email_code, sms_code, secret=linking.secret, now=uow.now)
    if verdict == "repeated" and request.profile_id is not None:
        profile = await uow.repo.profile(request.profile_id)
        if profile is not None:
            return Confirmation(profile)
        verdict = "already_confirmed"
    if verdict in ("expired", "out_of_tries", "already_confirmed", "repeated"):
        words = {"expired": "the codes expired; ask for new ones", "out_of_tries": "too many wrong codes; ask for "
                 "new ones", "already_confirmed": "this link request was already confirmed"}
        raise ProfileError(410, verdict, words.get(verdict, words["already_confirmed"]))
    if verdict == "mismatch":
        used = await uow.repo.count_link_attempt(link_id)
        return Confirmation(None, attempts_left=max(0, request.max_attempts - used))
    contacts = [LinkedContact(request.email_key, "email", request.email, "resident", uow.now),
                LinkedContact(request.phone_key, "phone", request.phone, "resident", uow.now)]
    profile = await _link(uow, contacts, request.preferred_channel, request.language, new_profile_id)
    await uow.repo.confirm_link_request(link_id, profile.profile_id, uow.now)
    log.info("profile_linked", link_id=str(link_id), profile_id=str(profile.profile_id), linked_by="resident")
    return Confirmation(profile)


async def _link(uow: Uow, contacts: list[LinkedContact], preferred_channel: str | None, language: str | None,
                new_profile_id: UUID) -> Profile:
    """Put `contacts` in one profile: a new one (`new_profile_id`) when none has a profile, else the oldest
    of their profiles, which the others join (`profiles.survivor_of`); preferences given replace the
    survivor's. Raises `ProfileError` 422 when the preferred channel has no contact of its kind."""
    keys = [c.contact_key for c in contacts]
    await uow.repo.lock_contact_keys(keys)
    found: dict[UUID, Profile] = {}
    for key in keys:
        p = await uow.repo.profile_of(key)
        if p is not None:
            found[p.profile_id] = p
    survivor = survivor_of(list(found.values()))
    channel, lang = joined_preferences(survivor, preferred_channel, language)
    if survivor is None:
        profile_id = new_profile_id
        await uow.repo.create_profile(profile_id, channel, lang, uow.now)
    else:
        profile_id = survivor.profile_id
        for other in found:
            if other != profile_id:
                await uow.repo.absorb_profile(profile_id, other)
        await uow.repo.set_profile_preferences(profile_id, channel, lang, uow.now)
    for contact in contacts:
        await uow.repo.add_profile_contact(profile_id, contact)
    profile = await uow.repo.profile(profile_id)
    assert profile is not None
    _check_channel(profile, channel)
    return profile


def _check_channel(profile: Profile, channel: str | None) -> None:
    if channel is not None and not profile.has_kind(CHANNEL_KIND[channel]):
        raise ProfileError(422, "no_contact_for_channel",
                           f"preferred_channel {channel}: the profile has no {CHANNEL_KIND[channel]} contact")


# --- staff ---------------------------------------------------------------------------------------------


async def link_by_staff(uow: Uow, linking: Linking, *, contacts: Iterable[tuple[str, str]], staff_subject: str,
                        preferred_channel: str | None, language: str | None, new_profile_id: UUID) -> Profile:
    """Staff link two or more contacts ((kind, value): ``email``, ``phone`` or a platform id) into one
    profile, `linked_by` ``staff:<sub>``, joining the profiles they had (`_link`). Raises `ProfileError`
    422 for a contact that is not one, the same contact twice, fewer than two, or a preferred channel
    without a contact of its kind."""
    linked_by = f"staff:{staff_subject}"
    read = [_contact(kind, value, linking.region, linked_by, uow.now, f"contacts[{i}]")
            for i, (kind, value) in enumerate(contacts)]
    if len({c.contact_key for c in read}) != len(read):
        raise ProfileError(422, "invalid_contact", "contacts: the same contact is given twice")
    if len(read) < 2:
        raise ProfileError(422, "invalid_contact", "contacts: link two contacts or more")
    profile = await _link(uow, read, preferred_channel, language, new_profile_id)
    log.info("profile_linked", profile_id=str(profile.profile_id), linked_by=linked_by, contacts=len(read))
    return profile


async def set_preferences(uow: Uow, profile_id: UUID, changes: dict[str, str | None]) -> Profile:
    """Change a profile's `preferred_channel` and/or `language` (a key of `changes` present, None clears
    it). Raises `ProfileError` 404 for an unknown profile, 422 for nothing to change or a preferred
    channel without a contact of its kind."""
    if not changes:
        raise ProfileError(422, "nothing_to_change", "give preferred_channel and/or language")
    profile = await uow.repo.profile(profile_id)
    if profile is None:
        raise ProfileError(404, "unknown", "no such profile")
    channel = changes["preferred_channel"] if "preferred_channel" in changes else profile.preferred_channel
    language = changes["language"] if "language" in changes else profile.language
    _check_channel(profile, channel)
    await uow.repo.set_profile_preferences(profile_id, channel, language, uow.now)
    changed = await uow.repo.profile(profile_id)
    assert changed is not None
    return changed


async def unlink(uow: Uow, profile_id: UUID, contact_key: str, *, staff_subject: str) -> Profile:
    """Unlink one contact from a profile (a profile left without contacts is deleted: the answer then has
    none). A preferred channel left without a contact of its kind falls back to the usual channel. Raises
    `ProfileError` 404 for an unknown profile or a key that is not one of its contacts."""
    profile = await uow.repo.profile(profile_id)
    if profile is None:
        raise ProfileError(404, "unknown", "no such profile")
    if not await uow.repo.remove_profile_contact(profile_id, contact_key):
        raise ProfileError(404, "unknown", "this contact is not linked to this profile")
    log.info("profile_contact_unlinked", profile_id=str(profile_id), unlinked_by=f"staff:{staff_subject}")
    after = await uow.repo.profile(profile_id)
    return after or Profile(profile_id, profile.preferred_channel, profile.language, profile.created_at, ())
