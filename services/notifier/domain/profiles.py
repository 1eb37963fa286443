"""One resident profile across channels (docs/integrations.md section 3): what a profile is, how its
contacts are read, masked and joined, how a link request's codes are checked, and which contact a notice
goes to when its recipient has a profile. Pure: no I/O; `now`, ids and codes are passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from uuid import UUID

import phonenumbers

from services.notifier.domain.model import Contact
from shared.contacts import contact_key, e164, looks_like_email, mask_email, mask_phone

Channel = Literal["email", "sms"]
Language = Literal["en", "fr"]
PLATFORM_KINDS = ("messenger", "instagram", "whatsapp", "mastodon", "account")
"""Platform ids staff may link beside emails and phones (history only: notices go by email or SMS)."""
CONTACT_KINDS = ("email", "phone", *PLATFORM_KINDS)
CHANNEL_KIND: dict[str, str] = {"email": "email", "sms": "phone"}
"""The contact kind a preferred channel sends to."""

_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class ContactProblem(ValueError):
    """A contact that cannot be linked: the message says why (a 422 for the caller)."""


@dataclass(frozen=True)
class LinkedContact:
    """One contact of a profile: its `contact_key` (`shared.contacts.contact_key`), `kind` (``email``,
    ``phone`` or a platform), the `address` (email, E.164 phone, platform id), who linked it (`linked_by`:
    ``resident`` or ``staff:<sub>``) and when (`linked_at`, UTC)."""

    contact_key: str
    kind: str
    address: str
    linked_by: str
    linked_at: datetime


@dataclass(frozen=True)
class Profile:
    """A person's profile: `preferred_channel` (``email``, ``sms`` or None), `language` (``en``, ``fr`` or
    None), `created_at` (UTC) and its contacts, oldest link first."""

    profile_id: UUID
    preferred_channel: str | None
    language: str | None
    created_at: datetime
    contacts: tuple[LinkedContact, ...] = ()

    def has_kind(self, kind: str) -> bool:
        return any(c.kind == kind for c in self.contacts)


# --- contacts: read, keyed, masked ------------------------------------------------------------------------


def read_contact(kind: str, value: str, region: str) -> tuple[str, str]:
    """(address, contact key) of one contact as a person typed it: an email (trimmed, ASCII, at most 254
    characters, the portal's shape), a phone (E.164, numbers without ``+`` read in `region`, ISO 3166
    alpha-2), or a platform id (trimmed, 1-200 printable characters: no control character or lone
    surrogate, which no contact key can hash). Raises `ContactProblem`."""
    value = (value or "").strip()
    if kind == "email":
        # ASCII only here: our SMTP path offers no SMTPUTF8 (RFC 6531)
        if not value.isascii() or _CONTROLS.search(value) or not looks_like_email(value):
            raise ContactProblem("not an email address")
        return value, contact_key("email", value)
    if kind == "phone":
        number = e164(value, region) if len(value) <= 40 and value.isprintable() else None
        if number is None:
            raise ContactProblem("not a phone number")
        return number, contact_key("phone", number)
    if kind in PLATFORM_KINDS:
        if not value or len(value) > 200 or not value.isprintable():
            raise ContactProblem(f"not a {kind} id")
        return value, contact_key(kind, value)
    raise ContactProblem(f"unknown contact kind {kind[:40]!r}; one of {', '.join(CONTACT_KINDS)}")


def textable_here(phone_e164: str, region: str) -> bool:
    """Whether a code may be texted to `phone_e164` from a city of `region`: its country is `region`
    (`phonenumbers.region_code_for_number`), or the metadata cannot place it and it has `region`'s calling
    code. Texts abroad cost money and are what SMS pumping targets (the portal's follow rule)."""
    number = phonenumbers.parse(phone_e164)
    found = phonenumbers.region_code_for_number(number)
    if found is None:
        return number.country_code == phonenumbers.country_code_for_region(region.upper())
    return found == region.upper()


def mask(kind: str, address: str) -> str:
    """Enough of a contact to recognise it, not to use it: an email by `shared.contacts.mask_email`
    (``j***@example.org``), a phone by `shared.contacts.mask_phone` (``+1 514-***-0123``), the first three
    characters and ``***`` for a platform id."""
    if kind == "email":
        return mask_email(address)
    if kind == "phone":
        return mask_phone(address)
    return f"{address[:3]}***"


# --- joining profiles -------------------------------------------------------------------------------------


def survivor_of(found: list[Profile]) -> Profile | None:
    """The profile that stays when contacts of several profiles are linked: the oldest (then the smallest
    id); the others join it. None when no contact had a profile."""
    return min(found, key=lambda p: (p.created_at, str(p.profile_id))) if found else None


def joined_preferences(survivor: Profile | None, preferred_channel: str | None, language: str | None
                       ) -> tuple[str | None, str | None]:
    """(preferred channel, language) of a profile after a link: what the link asked for, else what the
    surviving profile had."""
    return (preferred_channel or (survivor.preferred_channel if survivor else None),
            language or (survivor.language if survivor else None))


# --- link requests: codes ---------------------------------------------------------------------------------


def code_digest(secret: str, link_id: UUID, which: Literal["email", "sms"], code: str) -> str:
    """HMAC-SHA256 (hex) of one code of a link request under `secret`: the code is never stored, and a
    digest of one request or channel does not match another's (`link_id` and `which` are in it)."""
    return hmac.new(secret.encode(), f"{link_id}:{which}:{code}".encode(), hashlib.sha256).hexdigest()


def typed_code(text: str) -> str:
    """A code as typed, with spaces and dashes removed (``482 913`` is ``482913``); "" (matching no code)
    for one with anything but ASCII left."""
    cleaned = re.sub(r"[\s-]", "", text or "")
    return cleaned if cleaned.isascii() else ""


@dataclass(frozen=True)
class LinkRequest:
    """A resident's request to link `email` and `phone` (E.164), with their keys, the chosen preferences,
    the codes' digests, tries used of `max_attempts`, times (UTC) and, once confirmed, the profile."""

    link_id: UUID
    email: str
    phone: str
    email_key: str
    phone_key: str
    preferred_channel: str | None
    language: str
    email_code_hash: str
    sms_code_hash: str
    attempts: int
    max_attempts: int
    created_at: datetime
    expires_at: datetime
    confirmed_at: datetime | None = None
    profile_id: UUID | None = None


Verdict = Literal["confirmed", "mismatch", "expired", "out_of_tries", "already_confirmed", "repeated"]


def judge_codes(request: LinkRequest, email_code: str, sms_code: str, *, secret: str, now: datetime) -> Verdict:
    """What two typed codes do to a link request at `now` (UTC):

    ``repeated`` both codes right for a request already confirmed (the same answer again, e.g. a retried
    call); ``already_confirmed`` a confirmed request with a wrong code; ``expired`` at or after
    `expires_at`; ``out_of_tries`` when `max_attempts` tries were used; ``confirmed`` when both codes
    match; ``mismatch`` otherwise (the caller counts one try). Compared in constant time."""
    right = (hmac.compare_digest(request.email_code_hash,
                                 code_digest(secret, request.link_id, "email", typed_code(email_code)))
             & hmac.compare_digest(request.sms_code_hash,
                                   code_digest(secret, request.link_id, "sms", typed_code(sms_code))))
    if request.confirmed_at is not None:
        return "repeated" if right else "already_confirmed"
    if now >= request.expires_at:
        return "expired"
    if request.attempts >= request.max_attempts:
        return "out_of_tries"
    return "confirmed" if right else "mismatch"


# --- notices: which contact a profile sends to ------------------------------------------------------------


@dataclass(frozen=True)
class Preference:
    """What a contact key's profile says of notices to it: the `profile_id`, its `preferred_channel` and
    `language` (None: not chosen), and its contacts as (contact key, kind, address), newest link first."""

    profile_id: UUID
    preferred_channel: str | None
    language: str | None
    contacts: tuple[tuple[str, str, str], ...] = ()


def with_preference(contact: Contact, preference: Preference | None) -> Contact:
    """`contact` as its profile wants it told: the profile's language when it chose one (the notice is then
    written in it), and the preference kept on the contact for the choice of target; unchanged without a
    profile."""
    if preference is None:
        return contact
    return replace(contact, language=preference.language or contact.language, preference=preference)


def preferred_address(contact: Contact) -> tuple[str, str] | None:
    """(channel, address) a notice to `contact` goes to by its profile: the preferred channel (``email`` or
    ``sms``) to the profile's contact of that kind (the contact itself when it is of that kind, else the
    most recently linked one). None without a profile, a preferred channel or a contact of that kind."""
    pref = contact.preference
    if pref is None or pref.preferred_channel not in CHANNEL_KIND:
        return None
    kind = CHANNEL_KIND[pref.preferred_channel]
    own = [address for key, k, address in pref.contacts if key == contact.contact_key and k == kind]
    others = [address for _key, k, address in pref.contacts if k == kind]
    chosen = (own or others or [None])[0]
    return (pref.preferred_channel, chosen) if chosen else None


def one_per_profile(contacts: list[Contact]) -> list[Contact]:
    """`contacts` with each profile heard once: the first contact of a profile stays (reporters come
    before followers), later ones of the same profile go; contacts without a profile all stay."""
    seen: set[UUID] = set()
    out = []
    for c in contacts:
        if c.preference is not None:
            if c.preference.profile_id in seen:
                continue
            seen.add(c.preference.profile_id)
        out.append(c)
    return out
