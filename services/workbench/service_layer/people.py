"""The person page's data and forms (docs/integrations.md section 3, "History"): a contact key (given, or
computed from an email address or a phone number with `shared.contacts`), the notifier's profile holding it
(masked contacts, preferred channel, language) and every case of every contact key of that profile from the
case service, newest first; staff link a caller's number and an email address, and set the preferred
channel and language. Every call carries the signed-in user's token; the notifier and the case service
decide who may. Raises `ApiError` and `FormError` as `service_layer.pages` does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from services.workbench.adapters.http_api import ApiError
from services.workbench.domain.forms import FormError
from services.workbench.service_layer.deps import Deps
from shared.auth import Principal
from shared.contacts import contact_key, e164, looks_like_email

CONTACT_KEY_RE = re.compile(r"^ck_[A-Za-z0-9_]{1,80}$")
CHANNELS = ("email", "sms")
LANGUAGES = ("en", "fr")


def person_key(d: Deps, *, contact_key_: str | None = None, email: str | None = None,
               phone: str | None = None) -> str:
    """The contact key a person page is about: `contact_key_` as given (``ck_`` and at most 80 letters,
    digits or ``_``), else that of `email` (case-folded) or `phone` (E.164, read in the jurisdiction's
    `phone_region` when written without ``+``), exactly as the intake channels compute it. Raises
    `FormError` when none is given or the one given cannot be one."""
    if contact_key_:
        if not CONTACT_KEY_RE.match(contact_key_.strip()):
            raise FormError("This is not a contact key (ck_…).")
        return contact_key_.strip()
    if email:
        if not looks_like_email(email.strip()):
            raise FormError("This is not an email address.")
        return contact_key("email", email.strip())
    if phone:
        number = e164(phone[:40], d.jurisdiction.phone_region)
        if number is None:
            raise FormError("This is not a phone number.")
        return contact_key("phone", number)
    raise FormError("Give a contact key, an email address or a phone number.")


def person_url(*, contact_key_: str | None = None, phone: str | None = None) -> str:
    """The person page of a contact key or a phone number (``/people?contact_key=…`` or ``?phone=…``)."""
    query = {"contact_key": contact_key_} if contact_key_ else {"phone": phone or ""}
    return "/people?" + urlencode(query)


def _refused_access(exc: ApiError) -> bool:
    return exc.status in (401, 403)


async def _profile(d: Deps, who: Principal, key: str) -> tuple[dict[str, Any] | None, ApiError | None]:
    """The notifier's profile holding `key` (None when it has none) and the `ApiError` of a notifier that
    did not answer. Raises `ApiError` when it refuses the user (401, 403)."""
    assert d.profile_api is not None
    try:
        return await d.profile_api.profile(who.token, key), None
    except ApiError as exc:
        if _refused_access(exc):
            raise
        return None, exc


def _keys(key: str, profile: Mapping[str, Any] | None) -> list[str]:
    """`key`, then every other contact key of `profile`."""
    return [key] + [c["contact_key"] for c in (profile or {}).get("contacts", [])
                    if isinstance(c, Mapping) and c.get("contact_key") and c["contact_key"] != key]


async def _person(d: Deps, who: Principal, key: str, profile: dict[str, Any] | None,
                  profile_error: ApiError | None) -> dict[str, Any]:
    """`person`'s answer once the profile is known: the cases of every key of it from the case service."""
    keys = _keys(key, profile)
    cases: list[dict[str, Any]] = []
    cases_error = None
    try:
        cases = await d.case_api.reporter_cases(who.token, keys)
    except ApiError as exc:
        if _refused_access(exc):
            raise
        cases_error = exc
    cases = sorted(cases, key=lambda c: str(c.get("requested_datetime") or ""), reverse=True)
    return {"contact_key": key, "profile": profile, "keys": keys, "cases": cases, "profile_error": profile_error,
            "cases_error": cases_error}


async def person(d: Deps, who: Principal, key: str) -> dict[str, Any]:
    """The person of contact key `key`: ``profile`` (the notifier's, None when the key has none),
    ``keys`` (every contact key of the profile, `key` first), ``cases`` (every case of those keys, newest
    first by ``requested_datetime``), and ``profile_error`` / ``cases_error`` (the `ApiError` of a service
    that did not answer; the page shows what the other said). Raises `ApiError` when a service refuses
    the user (401, 403)."""
    profile, profile_error = await _profile(d, who, key)
    return await _person(d, who, key, profile, profile_error)


def _choice(form: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = (form.get(name) or "").strip()
    if value and value not in allowed:
        raise FormError(f"{name} must be one of {', '.join(allowed)}.")
    return value or None


def link_body(d: Deps, form: Mapping[str, str]) -> dict[str, Any]:
    """The body of ``POST /staff/profiles/links`` from the staff form: the caller's ``phone`` (E.164, read
    in the jurisdiction's region) and the ``email`` they give, optional ``preferred_channel`` (``email``,
    ``sms``) and ``language`` (``en``, ``fr``). Raises `FormError` for a missing or malformed one."""
    email = (form.get("email") or "").strip()
    number = e164((form.get("phone") or "")[:40], d.jurisdiction.phone_region)
    if number is None:
        raise FormError("Type the caller's phone number (e.g. +1 613 555 0123).")
    if not looks_like_email(email):
        raise FormError("Type an email address like name@example.org.")
    body: dict[str, Any] = {"contacts": [{"kind": "phone", "value": number}, {"kind": "email", "value": email}]}
    for name, allowed in (("preferred_channel", CHANNELS), ("language", LANGUAGES)):
        value = _choice(form, name, allowed)
        if value:
            body[name] = value
    return body


async def link(d: Deps, who: Principal, form: Mapping[str, str]) -> dict[str, Any]:
    """Link the caller's number and an email address into one profile (`link_body`; ``linked_by``
    ``staff:<sub>`` is the notifier's, from the token): the profile after."""
    assert d.profile_api is not None
    return await d.profile_api.link(who.token, link_body(d, form))


async def set_preferences(d: Deps, who: Principal, profile_id: str, form: Mapping[str, str]) -> dict[str, Any]:
    """``PATCH /staff/profiles/{profile_id}`` with the form's ``preferred_channel`` and ``language`` (an
    empty choice clears it). Raises `FormError` for a value outside the choices."""
    assert d.profile_api is not None
    body = {name: _choice(form, name, allowed) for name, allowed in (("preferred_channel", CHANNELS),
                                                                      ("language", LANGUAGES))}
    return await d.profile_api.preferences(who.token, profile_id, body)


async def caller_history(d: Deps, who: Principal, phone: str) -> dict[str, Any] | None:
    """The console's view of a caller across channels: `person` of the number's contact key when the
    number has a profile with other contacts (``person_url`` added), else None (the agent API's list is
    the whole story). A service that refuses or does not answer: None (the console keeps its list)."""
    try:
        key = person_key(d, phone=phone)
        profile, _error = await _profile(d, who, key)
        if profile is None or len(_keys(key, profile)) < 2:
            return None  # no other channel: the case service would only repeat the console's own list
        found = await _person(d, who, key, profile, None)
    except (FormError, ApiError):
        return None
    if found["cases_error"] is not None:
        return None
    return {**found, "person_url": person_url(contact_key_=key)}
