"""Meta webhook deliveries (Messenger, Instagram, WhatsApp Cloud) → one outcome per item.

A delivery is ``{"object": ..., "entry": [...]}``: ``page`` (Messenger) and ``instagram`` entries carry
``messaging`` events; ``whatsapp_business_account`` entries carry ``changes`` whose ``value`` holds
``messages``, ``statuses`` and ``errors``. Each item is read on its own: a malformed one becomes a
`Rejected` outcome and the rest of the batch goes on (Meta expects 200 for every signed delivery and
would otherwise resend the whole batch). Our own echoes, receipts, opt-ins, referrals and "Get started"
taps are never messages; WhatsApp statuses become `StatusReported` delivery outcomes. A kind of message we
cannot read as a report becomes `Unsupported` (kept raw and answered with a request for text, never dropped);
an unsent message becomes `Withdrawn`. A shared location goes through the one location check
(`shared.jurisdiction.point_check.check_point`): a placeholder 0,0 or an impossible point leaves the message
without a point (the check kept in ``attributes.location_check``), swapped axes are read swapped. A pin's
title is its address only when it names a place and the point is usable ("Pinned Location" never is).

References: Messenger Platform webhook events (messages, messaging_postbacks, message_echoes,
message_deliveries, message_reads, messaging_optins, messaging_referrals); Instagram Messaging webhooks;
WhatsApp Cloud API webhooks (messages object, statuses object).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake_social.domain.outcomes import (
    Ignored,
    Inbound,
    NotForUs,
    Outcome,
    Receipt,
    Rejected,
    StatusReported,
    Unsupported,
    Withdrawn,
    contact_key,
)
from shared.events import (
    DeliveryStatusReceived,
    MessageReceived,
    MessageUnsupported,
    MessageWithdrawn,
    Pii,
    ProviderError,
)
from shared.intake.contact_card import MAX_CARDS, SharedContact, cards_attribute, cards_text
from shared.jurisdiction.point_check import check_point

Contains = Callable[[float, float], bool]
"""`contains(lat, long)`: whether a WGS84 point is inside the jurisdiction (`Jurisdiction.contains`)."""

OBJECT_CHANNELS = {"page": "messenger", "instagram": "instagram", "whatsapp_business_account": "whatsapp"}
"""The webhook `object` of each channel we serve."""

FUTURE_TOLERANCE = timedelta(minutes=5)
_PSID = re.compile(r"^\d{1,32}$")  # page- and Instagram-scoped user ids are digits
_WA_ID = re.compile(r"^\d{1,20}$")  # a WhatsApp id is the phone number in international form, digits only
_BSUID = re.compile(r"^[A-Z]{2}(\.[A-Za-z0-9]+)+$")  # business-scoped user id, e.g. US.1234 (usernames)
_MS_THRESHOLD = 100_000_000_000  # epoch values above this are milliseconds (year 5138 in seconds)
THUMBS_UP_STICKERS = frozenset({369239263222822, 369239343222814, 369239383222810})
"""Messenger's "like" button sends one of these stickers (small, medium, large): read as 👍."""
WA_MEDIA_TYPES = ("image", "video", "audio", "voice", "document", "sticker")
WA_IGNORED_TYPES = frozenset({"request_welcome"})
"""WhatsApp message types that carry nothing from the resident: the first opening of a chat with us."""
MESSENGER_ATTACHMENTS = frozenset({
    "image", "video", "audio", "file", "location", "fallback", "template", "like_heart", "ig_reel", "reel",
    "share", "story_mention", "ig_story", "ig_post", "sticker", "animated_image",
})
"""Messenger and Instagram attachment types we read (Messenger Platform "messages" webhook, Instagram
Messaging "messages" webhook); a message made only of other types is `Unsupported`."""
WA_STATUSES = frozenset({"sent", "delivered", "read", "failed"})
WA_IGNORED_STATUSES = frozenset({"deleted", "warning"})
FLOW_PII_KEYS = {"first_name": "first_name", "last_name": "last_name", "name": "name", "email": "email",
                 "phone": "phone"}
FLOW_FIELDS = {"description", "address", "address_string", "service_code", "lat", "long", "zipcode"}
FLOW_SECRET_KEYS = {"flow_token"}
_GENERIC_PIN_TITLE = re.compile(
    r"(?:(?:pinned|current|shared|live|my|your|dropped)\s+)?location|.{1,100}['’]s\s+location"
    r"|(?:position|lieu|emplacement|localisation|location)(?:\s+(?:épinglée?|epinglee?|actuelle?|partagée?|partagee?))?"
    r"|(?:ma|votre|sa)\s+(?:position|localisation)|(?:position|localisation)\s+de\s+.{1,100}",
    re.IGNORECASE)
"""Titles Messenger and Instagram give a shared pin that name no place: "Pinned Location", "<name>'s
Location" (the resident's own name), and their French forms."""


@dataclass(frozen=True)
class MetaAccounts:
    """Which of Meta's accounts are the city's. Empty sets accept any (a single-tenant deployment).

    `page_ids`: Facebook page and Instagram professional account ids (the entry `id`);
    `whatsapp_phone_number_ids`: WhatsApp business phone number ids (`metadata.phone_number_id`);
    `graph_url`: Graph API base, e.g. ``https://graph.facebook.com/v21.0``, where a WhatsApp media id
    resolves (with the access token) to its download URL.
    """

    page_ids: frozenset[str] = frozenset()
    whatsapp_phone_number_ids: frozenset[str] = frozenset()
    graph_url: str = "https://graph.facebook.com/v21.0"


class Malformed(Exception):
    """An item of a delivery that cannot be read; `reason` is a short stable code for metrics."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(reason if detail is None else f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _anywhere(_lat: float, _long: float) -> bool:
    return True


def parse_delivery(payload: Any, *, accounts: MetaAccounts, now: datetime,
                   contains: Contains | None = None) -> list[Outcome]:
    """Every outcome of one signed, JSON-decoded webhook delivery, in delivery order.

    `now` (aware UTC) is when it was received; `contains` the jurisdiction's `contains(lat, long)` for the
    location check (None: no boundary known, only the placeholder and range rules apply). Never raises: a
    malformed entry or item is a `Rejected` outcome. A message id seen earlier in the same delivery gives
    ``Ignored(reason="duplicate")``. An empty ``entry`` list gives no outcome at all.
    """
    inside = contains or _anywhere
    if not isinstance(payload, Mapping):
        return [Rejected(None, "not_an_object", "$")]
    obj = payload.get("object")
    channel = OBJECT_CHANNELS.get(obj) if isinstance(obj, str) else None
    if channel is None:
        return [NotForUs(None, "unknown_object", ref=str(obj)[:64])]
    entries = payload.get("entry")
    if not isinstance(entries, list):
        return [Rejected(channel, "no_entries", "entry")]
    outcomes: list[Outcome] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"entry[{i}]"
        for outcome in _entry_outcomes(channel, entry, where, accounts, now, inside):
            if isinstance(outcome, Inbound):
                mid = outcome.message.channel_message_id
                if mid in seen:
                    outcome = Ignored(channel, "duplicate", ref=mid)
                seen.add(mid)
            outcomes.append(outcome)
    return in_the_order_sent(outcomes)


def in_the_order_sent(outcomes: list[Outcome]) -> list[Outcome]:
    """`outcomes` with the messages (`Inbound`) in the order their senders sent them (the platform's
    timestamp, `requested_datetime`; stable for equal times) in the places messages held, every other outcome
    where it was: Meta batches several messages in one delivery without promising their order, and a
    follow-up read before its report would open a case of its own (docs/channels.md, "Conversations")."""
    places = [i for i, o in enumerate(outcomes) if isinstance(o, Inbound)]
    ordered = sorted((outcomes[i] for i in places), key=_sent_at)
    out = list(outcomes)
    for i, outcome in zip(places, ordered, strict=True):
        out[i] = outcome
    return out


def _sent_at(outcome: Outcome) -> datetime:
    message = outcome.message if isinstance(outcome, Inbound) else None
    sent = message.requested_datetime if message is not None else None
    return sent or datetime.min.replace(tzinfo=UTC)


def _entry_outcomes(channel: str, entry: Any, where: str, accounts: MetaAccounts, now: datetime,
                    inside: Contains) -> list[Outcome]:
    if not isinstance(entry, Mapping):
        return [Rejected(channel, "entry_not_an_object", where)]
    if channel == "whatsapp":
        return _whatsapp_entry(entry, where, accounts, now, inside)
    entry_id = _str_id(entry.get("id"))
    if accounts.page_ids and entry_id not in accounts.page_ids:
        return [NotForUs(channel, "other_page", ref=entry_id)]
    items = entry.get("messaging")
    if items is None:
        # Page entries may carry `changes` (feed) or `standby` (another app owns the thread): not messages.
        return [Ignored(channel, "no_messaging", ref=entry_id)]
    if not isinstance(items, list):
        return [Rejected(channel, "messaging_not_a_list", where + ".messaging")]
    out: list[Outcome] = []
    for j, item in enumerate(items):
        item_where = f"{where}.messaging[{j}]"
        out.append(_guard(channel, item_where,
                          lambda: _messaging_item(channel, entry_id, item, item_where, now, inside)))
    return out


def _guard(channel: str, where: str, build: Any) -> Outcome:
    """Run one item's parser; whatever it cannot read becomes a `Rejected` outcome for that item only."""
    try:
        return build()
    except Malformed as exc:
        return Rejected(channel, exc.reason, where, exc.detail)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # ValueError covers pydantic's ValidationError (e.g. a latitude out of range); its text may
        # quote the resident's words, so only the type goes to the log.
        return Rejected(channel, "invalid", where, type(exc).__name__)


# --- Messenger and Instagram -------------------------------------------------------------------------------


def _messaging_item(channel: str, entry_id: str | None, item: Any, where: str, now: datetime,
                    inside: Contains) -> Outcome:
    if not isinstance(item, Mapping):
        raise Malformed("item_not_an_object")
    message = item.get("message")
    if isinstance(message, Mapping) and message.get("is_echo"):
        # What our page sent (by us or a human agent in Meta's inbox) echoed back: answering it would loop.
        return Ignored(channel, "echo", ref=_opt_str(message.get("mid")))
    recipient = _str_id(_get(item, "recipient", "id"))
    if entry_id is not None and recipient is not None and recipient != entry_id:
        return NotForUs(channel, "different_page", ref=recipient)
    if isinstance(item.get("delivery"), Mapping):
        d = item["delivery"]
        mids = tuple(str(m) for m in d.get("mids") or [] if m)
        return Receipt(channel, "delivery", mids=mids, watermark=_opt_int(d.get("watermark")))
    if isinstance(item.get("read"), Mapping):
        r = item["read"]
        mids = (str(r["mid"]),) if r.get("mid") else ()
        return Receipt(channel, "read", mids=mids, watermark=_opt_int(r.get("watermark")))
    if "optin" in item:
        return Ignored(channel, "optin")
    if "reaction" in item:
        if _opt_str(_get(item, "reaction", "mid")):
            # A reaction to a message in the conversation (ours, mostly): not a report, nothing to answer.
            return Ignored(channel, "reaction")
        sender = _sender(item)
        at = int(_epoch(item.get("timestamp"), now).timestamp() * 1000)
        return _unsupported(channel, "reaction", f"reaction:{sender}:{at}", sender, item, now)
    if "postback" in item:
        return _postback(channel, item, now)
    if isinstance(message, Mapping):
        return _message(channel, item, message, now, inside)
    if "referral" in item:
        # The resident followed an m.me link or an ad into the conversation: no words yet.
        return Ignored(channel, "referral")
    return Ignored(channel, "unknown_event", ref=",".join(sorted(k for k in item if isinstance(k, str)))[:100])


def _sender(item: Mapping[str, Any]) -> str:
    sender = _str_id(_get(item, "sender", "id"))
    if sender is None:
        raise Malformed("no_sender")
    if not _PSID.match(sender):
        raise Malformed("invalid_sender", "sender id is not a page-scoped id")
    return sender


def _message(channel: str, item: Mapping[str, Any], message: Mapping[str, Any], now: datetime,
             inside: Contains) -> Outcome:
    mid = _opt_str(message.get("mid"))
    if not mid:
        raise Malformed("no_message_id")
    sender = _sender(item)
    if message.get("is_deleted"):
        # Instagram Messaging "messages" webhook: the resident unsent `mid` (Messenger has the same shape).
        return Withdrawn(MessageWithdrawn(channel=channel, channel_message_id=mid,
                                          contact_key=contact_key(channel, sender), received_at=now,
                                          pii=Pii(handle=sender)))
    sent_at = _epoch(item.get("timestamp"), now)
    parts = [message["text"]] if isinstance(message.get("text"), str) and message["text"].strip() else []
    media: list[str] = []
    lat = long = None
    address = None
    attributes: dict[str, Any] = {}
    attachments = message.get("attachments") or []
    if not isinstance(attachments, list):
        raise Malformed("attachments_not_a_list")
    kinds = []
    unknown: list[str] = []
    location_check: dict[str, Any] | None = None
    for att in attachments:
        if not isinstance(att, Mapping):
            raise Malformed("attachment_not_an_object")
        kind = str(att.get("type") or "unknown")
        kinds.append(kind)
        payload = att.get("payload") if isinstance(att.get("payload"), Mapping) else {}
        if kind == "location":
            coords = payload.get("coordinates") if isinstance(payload.get("coordinates"), Mapping) else {}
            lat, long, location_check = _checked_point(coords.get("lat"), coords.get("long"), inside)
            title = _opt_str(att.get("title") or payload.get("title"))
            if title and not is_generic_pin_title(title):
                # A place's name ("Parliament Hill") names the point; without a usable point it names no place
                # (the acknowledgement must ask where): kept for staff, not the case's address.
                if lat is not None:
                    address = title
                else:
                    attributes["location_title"] = title
            continue
        if kind not in MESSENGER_ATTACHMENTS:
            unknown.append(kind)
        if kind == "like_heart":
            parts.append("❤️")
            continue
        if _opt_int(payload.get("sticker_id")) in THUMBS_UP_STICKERS or _opt_int(message.get("sticker_id")) in THUMBS_UP_STICKERS:
            parts.append("👍")
            continue
        url = _opt_str(payload.get("url"))
        if url and _is_web_url(url):
            media.append(url)
        else:
            # A shared link Meta could not render (`fallback`), a reel given as a path...: keep it as text
            # so that staff see what was sent.
            label = " ".join(x for x in (_opt_str(att.get("title") or payload.get("title")), url) if x)
            parts.append(f"[{kind}: {label}]" if label else f"[{kind}]")
    if kinds:
        attributes["attachment_types"] = kinds
    if location_check is not None:
        attributes["location_check"] = location_check
    qr = message.get("quick_reply")
    if isinstance(qr, Mapping) and qr.get("payload") is not None:
        attributes["quick_reply_payload"] = str(qr["payload"])
    reply_to = _opt_str(_get(message, "reply_to", "mid"))
    if unknown and len(unknown) == len(kinds) and not (isinstance(message.get("text"), str)
                                                         and message["text"].strip()):
        # Only attachments of kinds we do not know: kept raw, the resident asked for text.
        return _unsupported(channel, unknown[0], mid, sender, item, now)
    description = "\n".join(parts)
    if not description and not media and lat is None and location_check is None:
        return Ignored(channel, "empty", ref=mid)
    return Inbound(MessageReceived(
        channel=channel, channel_message_id=mid, contact_key=contact_key(channel, sender), received_at=now,
        description=description, lat=lat, long=long, address=address, media_url=media,
        requested_datetime=sent_at, attributes=attributes, in_reply_to=[reply_to] if reply_to else [],
        pii=Pii(handle=sender),
    ))


def _postback(channel: str, item: Mapping[str, Any], now: datetime) -> Outcome:
    postback = item["postback"]
    if not isinstance(postback, Mapping):
        raise Malformed("postback_not_an_object")
    payload = _opt_str(postback.get("payload"))
    title = _opt_str(postback.get("title"))
    if (payload or "").strip().casefold() == "get_started":
        # The "Get started" button (or an Instagram ice breaker) opens a conversation; no report yet.
        return Ignored(channel, "get_started")
    sender = _sender(item)
    sent_at = _epoch(item.get("timestamp"), now)
    # Newer Graph versions give postbacks a mid; older ones do not: the sender and time identify the tap.
    mid = _opt_str(postback.get("mid")) or f"postback:{sender}:{int(sent_at.timestamp() * 1000)}"
    description = title or payload or ""
    if not description:
        raise Malformed("empty_postback")
    attributes: dict[str, Any] = {"postback_payload": payload} if payload is not None else {}
    referral = postback.get("referral")
    if isinstance(referral, Mapping):
        attributes["referral"] = {k: str(v) for k, v in referral.items() if k in ("ref", "source", "type", "ad_id")}
    return Inbound(MessageReceived(
        channel=channel, channel_message_id=mid, contact_key=contact_key(channel, sender), received_at=now,
        description=description, requested_datetime=sent_at, attributes=attributes, pii=Pii(handle=sender),
    ))


# --- WhatsApp Cloud ------------------------------------------------------------------------------------------


def _whatsapp_entry(entry: Mapping[str, Any], where: str, accounts: MetaAccounts, now: datetime,
                    inside: Contains) -> list[Outcome]:
    changes = entry.get("changes")
    if not isinstance(changes, list):
        return [Rejected("whatsapp", "no_changes", where + ".changes")]
    out: list[Outcome] = []
    for c, change in enumerate(changes):
        cw = f"{where}.changes[{c}]"
        if not isinstance(change, Mapping) or not isinstance(change.get("value"), Mapping):
            out.append(Rejected("whatsapp", "change_without_value", cw))
            continue
        if change.get("field", "messages") != "messages":
            out.append(Ignored("whatsapp", "other_field", ref=str(change.get("field"))[:64]))
            continue
        value = change["value"]
        phone_id = _str_id(_get(value, "metadata", "phone_number_id"))
        if accounts.whatsapp_phone_number_ids and phone_id not in accounts.whatsapp_phone_number_ids:
            out.append(NotForUs("whatsapp", "other_phone_number", ref=phone_id))
            continue
        names = _contact_names(value.get("contacts"))
        before = len(out)
        for key, build in (("messages", _wa_message), ("statuses", _wa_status)):
            items = value.get(key)
            if items is None:
                continue
            if not isinstance(items, list):
                out.append(Rejected("whatsapp", f"{key}_not_a_list", f"{cw}.value.{key}"))
                continue
            for k, item in enumerate(items):
                iw = f"{cw}.value.{key}[{k}]"
                out.append(_guard("whatsapp", iw, lambda item=item, build=build: build(item, names, accounts, now,
                                                                                        inside)))
        for k, err in enumerate(value.get("errors") or []):
            # The platform could not deliver something to us (e.g. it failed to authenticate the user).
            out.append(Rejected("whatsapp", "platform_error", f"{cw}.value.errors[{k}]", _error_text(err)))
        if len(out) == before:
            out.append(Ignored("whatsapp", "empty_change"))
    return out


def _contact_names(contacts: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in contacts if isinstance(contacts, list) else []:
        if not isinstance(contact, Mapping):
            continue
        name = _opt_str(_get(contact, "profile", "name"))
        for key in ("wa_id", "user_id"):
            if name and contact.get(key):
                names[str(contact[key])] = name
    return names


def _wa_sender(m: Mapping[str, Any]) -> tuple[str, str | None]:
    """(sender id, phone in E.164 or None): the WhatsApp id when it is a phone number, else the
    business-scoped user id of a resident who hides their number behind a username."""
    frm = _opt_str(m.get("from"))
    user_id = _opt_str(m.get("from_user_id"))
    if frm:
        if _WA_ID.match(frm):
            return frm, "+" + frm
        if _BSUID.match(frm):
            return frm, None
        raise Malformed("invalid_sender", "from is neither a WhatsApp id nor a user id")
    if user_id and _BSUID.match(user_id):
        return user_id, None
    raise Malformed("no_sender")


def _wa_message(m: Any, names: Mapping[str, str], accounts: MetaAccounts, now: datetime,
                inside: Contains) -> Outcome:
    if not isinstance(m, Mapping):
        raise Malformed("item_not_an_object")
    wamid = _opt_str(m.get("id"))
    if not wamid:
        raise Malformed("no_message_id")
    if m.get("group_id"):
        # A group the city's number was added to: chatter there is not a request to the city.
        return Ignored("whatsapp", "group_message", ref=wamid)
    sent_at = _wa_timestamp(m.get("timestamp"), now)
    sender, phone = _wa_sender(m)
    kind = _opt_str(m.get("type")) or "unknown"
    pii = {"handle": sender, "phone": phone, "name": names.get(sender) or names.get(_opt_str(m.get("from_user_id")) or "")}
    if m.get("errors") or kind == "unsupported":
        # e.g. 131051 "Unsupported message type": something arrived that WhatsApp cannot pass on to us.
        return _unsupported("whatsapp", "unsupported", wamid, sender, m, now, pii)
    if kind in WA_IGNORED_TYPES:
        return Ignored("whatsapp", kind, ref=wamid)
    parts: list[str] = []
    media: list[str] = []
    lat = long = None
    given: tuple[Any, Any] | None = None
    address = None
    attributes: dict[str, Any] = {"whatsapp_type": kind}
    notes: list[str] = []
    pii_extra: dict[str, str] = {}
    fields: dict[str, Any] = {}
    if kind == "text":
        parts.append(_opt_str(_get(m, "text", "body")) or "")
    elif kind in WA_MEDIA_TYPES:
        body = m.get(kind)
        if not isinstance(body, Mapping):
            raise Malformed("media_without_body")
        if _opt_str(body.get("caption")):
            parts.append(str(body["caption"]))
        url = _opt_str(body.get("url")) or _opt_str(body.get("link"))
        media_id = _opt_str(body.get("id"))
        if url and _is_web_url(url):
            media.append(url)
        elif media_id:
            # The media is fetched from the Graph API with the city's token: keep that reference.
            media.append(f"{accounts.graph_url.rstrip('/')}/{media_id}")
        else:
            raise Malformed("media_without_id")
    elif kind == "location":
        loc = m.get("location")
        if not isinstance(loc, Mapping):
            raise Malformed("location_without_body")
        given = (loc.get("latitude"), loc.get("longitude"))
        address = " ".join(x for x in (_opt_str(loc.get("name")), _opt_str(loc.get("address"))) if x) or None
    elif kind == "button":
        parts.append(_opt_str(_get(m, "button", "text")) or "")
        if _get(m, "button", "payload") is not None:
            attributes["button_payload"] = str(m["button"]["payload"])
    elif kind == "interactive":
        inter = m.get("interactive")
        if not isinstance(inter, Mapping):
            raise Malformed("interactive_without_body")
        itype = _opt_str(inter.get("type"))
        if itype in ("button_reply", "list_reply"):
            reply = inter.get(itype) if isinstance(inter.get(itype), Mapping) else {}
            parts.append(_opt_str(reply.get("title")) or "")
            if reply.get("id") is not None:
                attributes["reply_id"] = str(reply["id"])
        elif itype == "nfm_reply":
            flow = inter.get("nfm_reply") if isinstance(inter.get("nfm_reply"), Mapping) else {}
            answers = _flow_answers(flow.get("response_json"))
            if answers is None:
                notes.append("flow response_json is not a JSON object")
                parts.append(_opt_str(flow.get("body")) or "")
            else:
                for key, value in answers.items():
                    if key in FLOW_SECRET_KEYS or value in (None, ""):
                        continue
                    if key in FLOW_PII_KEYS:
                        pii_extra[FLOW_PII_KEYS[key]] = str(value)
                    elif key in FLOW_FIELDS:
                        fields[key] = value
                    else:
                        attributes.setdefault("flow", {})[key] = str(value)
                parts.append(str(fields.pop("description", "")) or _opt_str(flow.get("body")) or "")
        else:
            return _unsupported("whatsapp", f"interactive_{itype or 'unknown'}"[:64], wamid, sender, m, now, pii)
    elif kind == "contacts":
        listed = m.get("contacts") if isinstance(m.get("contacts"), list) else []
        cards = [c for c in (_card(x) for x in listed[:MAX_CARDS] if isinstance(x, Mapping)) if c is not None]
        if not cards:
            return _unsupported("whatsapp", "contacts", wamid, sender, m, now, pii)
        parts.append(cards_text(cards))
        attributes["shared_contact"] = cards_attribute(cards)
    elif kind == "reaction":
        if _opt_str(_get(m, "reaction", "message_id")):
            # A reaction to a message of the conversation (or its removal): not a report, nothing to answer.
            return Ignored("whatsapp", "reaction", ref=wamid)
        return _unsupported("whatsapp", "reaction", wamid, sender, m, now, pii)
    else:
        # order, system, poll, unknown, and whatever WhatsApp adds next: kept raw, the resident asked for text.
        return _unsupported("whatsapp", kind[:64], wamid, sender, m, now, pii)
    description = "\n".join(p for p in parts if p)
    context_id = _opt_str(_get(m, "context", "id"))
    if given is None and ("lat" in fields or "long" in fields):
        given = (fields.pop("lat", None), fields.pop("long", None))
    location_check = None
    if given is not None:
        lat, long, location_check = _checked_point(given[0], given[1], inside)
        if location_check is not None:
            attributes["location_check"] = location_check
    if not description and not media and lat is None and location_check is None:
        return Ignored("whatsapp", "empty", ref=wamid)
    for key, value in pii_extra.items():
        pii[key] = pii.get(key) or value
    return Inbound(MessageReceived(
        channel="whatsapp", channel_message_id=wamid, contact_key=contact_key("whatsapp", sender), received_at=now,
        description=description, lat=lat, long=long,
        address=address or _opt_str(fields.get("address") or fields.get("address_string")),
        zipcode=_opt_str(fields.get("zipcode")), service_code=_opt_str(fields.get("service_code")),
        media_url=media, requested_datetime=sent_at, attributes=attributes,
        in_reply_to=[context_id] if context_id else [], pii=Pii(**{k: v for k, v in pii.items() if v}),
    ), notes=tuple(notes))


def _wa_status(s: Any, _names: Mapping[str, str], _accounts: MetaAccounts, now: datetime,
               _inside: Contains) -> Outcome:
    if not isinstance(s, Mapping):
        raise Malformed("item_not_an_object")
    wamid = _opt_str(s.get("id"))
    if not wamid:
        raise Malformed("no_message_id")
    status = _opt_str(s.get("status")) or ""
    if status in WA_IGNORED_STATUSES:
        return Ignored("whatsapp", f"status_{status}", ref=wamid)
    if status not in WA_STATUSES:
        raise Malformed("unknown_status", status[:40])
    recipient = _opt_str(s.get("recipient_id")) or _opt_str(s.get("recipient_user_id"))
    if not recipient or not (_WA_ID.match(recipient) or _BSUID.match(recipient)):
        raise Malformed("invalid_recipient")
    conversation = s.get("conversation") if isinstance(s.get("conversation"), Mapping) else {}
    expires = conversation.get("expiration_timestamp")
    errors = [ProviderError(code=str(e.get("code", "")), title=str(e.get("title", ""))[:500],
                            detail=_opt_str(_get(e, "error_data", "details") or e.get("details")))
              for e in s.get("errors") or [] if isinstance(e, Mapping)]
    return StatusReported(DeliveryStatusReceived(
        channel="whatsapp", provider_message_id=wamid, contact_key=contact_key("whatsapp", recipient),
        status=status, reported_at=_wa_timestamp(s.get("timestamp"), now), received_at=now, errors=errors,
        conversation_id=_opt_str(conversation.get("id")),
        conversation_expires_at=_epoch(expires, now) if expires is not None else None,
        pricing_category=_opt_str(_get(s, "pricing", "category")),
        pii=Pii(handle=recipient, phone="+" + recipient if _WA_ID.match(recipient) else None),
    ))


def _flow_answers(raw: Any) -> dict[str, Any] | None:
    """A WhatsApp Flow's answers (`nfm_reply.response_json`, a JSON object in a string), or None."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if not isinstance(raw, str):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _card(card: Mapping[str, Any]) -> SharedContact | None:
    """A WhatsApp contact card (WhatsApp Cloud API, "contacts" message object) as the card every channel
    reads (`shared.intake.contact_card`): the name, the organisation, each phone and email with its type."""
    name = _get(card, "name") if isinstance(card.get("name"), Mapping) else {}
    full = _opt_str(name.get("formatted_name")) or " ".join(
        x for x in (_opt_str(name.get(k)) for k in ("prefix", "first_name", "middle_name", "last_name", "suffix")) if x)
    org = card.get("org") if isinstance(card.get("org"), Mapping) else {}
    org_text = ", ".join(x for x in (_opt_str(org.get(k)) for k in ("company", "department", "title")) if x)

    def entries(key: str, field: str) -> list[tuple[str | None, str | None]]:
        listed = card.get(key) if isinstance(card.get(key), list) else []
        return [(_opt_str(e.get(field)), _opt_str(e.get("type"))) for e in listed if isinstance(e, Mapping)]

    return SharedContact.of(name=full or None, organisation=org_text or None, phones=entries("phones", "phone"),
                            emails=entries("emails", "email"))


def is_generic_pin_title(title: str) -> bool:
    """True when a shared location's `title` names no place (`_GENERIC_PIN_TITLE`): "Pinned Location",
    "Jane Doe's Location", "Position épinglée"; False for a place's name ("Parliament Hill")."""
    return _GENERIC_PIN_TITLE.fullmatch(" ".join(title.split())) is not None


def _checked_point(lat: Any, long: Any, inside: Contains) -> tuple[float | None, float | None, dict[str, Any] | None]:
    """A shared point through the one location check (`check_point`): (lat, long) to use, None, None for a
    placeholder or impossible one (a value that is not a number included), and the check to keep in
    ``attributes.location_check`` (None when ``ok``)."""
    check = check_point(_number(lat), _number(long), contains=inside)
    return check.lat, check.long, check.as_attribute()


def _number(value: Any) -> float:
    """A coordinate as a float; NaN for anything that is not a number (the check calls it out of range)."""
    if isinstance(value, bool) or value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _unsupported(channel: str, kind: str, mid: str, sender: str, raw: Any, now: datetime,
                 pii: Mapping[str, str | None] | None = None) -> Unsupported:
    """A message of a kind we cannot read: the raw item kept, and the notifier asked to answer with a
    request for text."""
    person = {k: v for k, v in (pii or {"handle": sender}).items() if v}
    return Unsupported(MessageUnsupported(channel=channel, channel_message_id=mid, contact_key=contact_key(channel, sender),
                                          received_at=now, kind=kind or "unknown", pii=Pii(**person)), raw=raw)


# --- small readers -----------------------------------------------------------------------------------------


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _opt_str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text or None


def _str_id(value: Any) -> str | None:
    """Meta ids are strings, but a hand-written payload may give a number: accept both, not floats."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    return _opt_str(value) if isinstance(value, str) else None


def _opt_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _epoch(value: Any, now: datetime) -> datetime:
    """A platform time in epoch seconds or milliseconds (Messenger uses ms, some events seconds) as aware
    UTC; `now` when absent. A time more than five minutes ahead of `now` is taken as `now` (clock skew
    must not date a report in the future). Raises `Malformed` for a value that is not a number."""
    if value is None:
        return now
    number = _opt_int(value)
    if number is None or number < 0:
        raise Malformed("invalid_timestamp")
    seconds = number / 1000 if number > _MS_THRESHOLD else number
    try:
        at = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise Malformed("invalid_timestamp") from None
    return now if at > now + FUTURE_TOLERANCE else at


def _wa_timestamp(value: Any, now: datetime) -> datetime:
    """WhatsApp times are epoch seconds given as a string; anything else is malformed."""
    if value is None:
        raise Malformed("invalid_timestamp")
    return _epoch(value, now)


def _is_web_url(url: str) -> bool:
    return url.startswith(("https://", "http://")) and len(url) <= 2048 and " " not in url


def _error_text(err: Any) -> str:
    if not isinstance(err, Mapping):
        return "unknown error"
    return f"{err.get('code', '?')} {str(err.get('title', ''))[:200]}".strip()
