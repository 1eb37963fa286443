"""The webhooks a provider would send, built and signed as the provider builds and signs them (no I/O):
Twilio's form parameters for an inbound SMS/MMS/WhatsApp message and for each step of a call, signed with
X-Twilio-Signature (the twilio library's own `RequestValidator`, HMAC-SHA1 over the public URL and the
sorted parameters); Meta's JSON deliveries for Messenger, Instagram and WhatsApp Cloud, signed with
X-Hub-Signature-256 (HMAC-SHA256 of the exact body bytes with the app secret).

References: Twilio "Messaging webhooks" (request parameters), "TwiML Voice: <Gather>, <Record>" (their
callbacks' parameters), "Webhooks security"; Meta "Webhooks: Event Notifications", Messenger Platform
"messages" webhook, WhatsApp Cloud API "messages" webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

TWILIO_API_VERSION = "2010-04-01"


def new_sid(prefix: str) -> str:
    """A Twilio-shaped id: `prefix` (``SM``, ``MM``, ``CA``, ``RE``, ``ME``) + 32 hex digits."""
    return prefix + secrets.token_hex(16)


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature for a POST of `params` (form fields) to `url` (the full public URL, query
    included), as Twilio computes it (twilio.request_validator.RequestValidator)."""
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(auth_token).compute_signature(url, params))


def twilio_message(*, account_sid: str, sender: str, to: str, body: str, message_sid: str | None = None,
                   media: list[tuple[str, str]] = (), whatsapp: bool = False,
                   location: tuple[float, float] | None = None) -> dict[str, str]:
    """The form of an inbound message webhook: from `sender` to the city's number `to` (E.164; both
    prefixed ``whatsapp:`` when `whatsapp`), `body`, `media` as (MediaUrl, MediaContentType) pairs
    (an MMS), and a shared `location` (lat, long in WGS84 degrees) as ``Latitude``/``Longitude``.
    Parameters as Twilio sends them (MessageSid/SmsSid, NumMedia, NumSegments, ApiVersion...)."""
    sid = message_sid or new_sid("MM" if media else "SM")
    if whatsapp:
        sender, to = f"whatsapp:{sender}", f"whatsapp:{to}"
    params = {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": str(len(media)), "SmsSid": sid,
              "SmsStatus": "received", "Body": body, "To": to, "NumSegments": "1", "MessageSid": sid,
              "AccountSid": account_sid, "From": sender, "ApiVersion": TWILIO_API_VERSION}
    for i, (url, content_type) in enumerate(media):
        params[f"MediaUrl{i}"] = url
        params[f"MediaContentType{i}"] = content_type
    if location is not None:
        params["Latitude"], params["Longitude"] = (repr(float(x)) for x in location)
    return params


def twilio_call(*, account_sid: str, call_sid: str, caller: str, to: str, status: str = "in-progress",
                **extra: str) -> dict[str, str]:
    """The parameters every voice webhook of one call carries (CallSid, From/Caller, To/Called,
    CallStatus, Direction...), with `extra` (Digits, SpeechResult, RecordingUrl...) added."""
    return {"AccountSid": account_sid, "ApiVersion": TWILIO_API_VERSION, "CallSid": call_sid, "CallStatus": status,
            "Called": to, "Caller": caller, "Direction": "inbound", "From": caller, "To": to, **extra}


@dataclass(frozen=True)
class Step:
    """What a TwiML answer asks next: a ``<Gather>`` (its action URL and what it takes: ``dtmf``,
    ``speech`` or both), a ``<Record>`` (its action, recording status callback and transcription
    callback URLs), or neither (the call ends: `kind` ``end``). `said` is the text read to the caller."""

    kind: str
    action: str | None = None
    inputs: str = ""
    recording_callback: str | None = None
    transcribe_callback: str | None = None
    said: str = ""


def next_step(twiml: str) -> Step:
    """The first ``<Gather>`` or ``<Record>`` of a TwiML ``<Response>`` (``end`` when there is neither);
    raises `ValueError` for text that is not TwiML."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError as exc:
        raise ValueError(f"not TwiML: {exc}") from exc
    if root.tag != "Response":
        raise ValueError(f"not TwiML: root element {root.tag}")
    said = " ".join(" ".join(e.itertext()).strip() for e in root.iter("Say") if "".join(e.itertext()).strip())
    for element in root.iter():
        if element.tag == "Gather":
            return Step("gather", element.get("action"), element.get("input", "dtmf"), said=said)
        if element.tag == "Record":
            return Step("record", element.get("action"), recording_callback=element.get("recordingStatusCallback"),
                        transcribe_callback=element.get("transcribeCallback"), said=said)
    return Step("end", said=said)


def twiml_messages(twiml: str) -> list[str]:
    """The texts of a messaging TwiML answer's ``<Message>`` elements (what the resident gets back)."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return []
    return [" ".join(" ".join(m.itertext()).split()) for m in root.iter("Message")]


def cookies_after(jar: dict[str, str], set_cookies: list[str]) -> dict[str, str]:
    """A conversation's cookies after an answer's ``Set-Cookie`` headers, as Twilio keeps them from one
    webhook to the next: each cookie set, or removed when it expires at once (``Max-Age=0`` or an
    ``Expires`` in the past, how a server deletes one). Unreadable headers are ignored."""
    out = dict(jar)
    for header in set_cookies:
        parsed: SimpleCookie = SimpleCookie()
        try:
            parsed.load(header)
        except CookieError:
            continue
        for name, morsel in parsed.items():
            gone = morsel["max-age"].strip() in ("0", "-1") or "1970" in morsel["expires"] or not morsel.value
            if gone:
                out.pop(name, None)
            else:
                out[name] = morsel.value
    return out


def meta_signature(app_secret: str, body: bytes) -> str:
    """X-Hub-Signature-256 of `body` as Meta sends it: ``sha256=`` + hex HMAC-SHA256 with the app secret."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_body(payload: dict[str, Any]) -> bytes:
    """The bytes Meta sends for `payload`: compact JSON, non-ASCII escaped as ``\\uXXXX``."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def messenger_delivery(*, platform: str, account_id: str, sender_id: str, text: str, now_ms: int,
                       mid: str | None = None, image_url: str | None = None,
                       location: tuple[float, float] | None = None) -> dict[str, Any]:
    """A Messenger (`platform` ``page``) or Instagram (``instagram``) delivery of one message from
    `sender_id` (a PSID / IGSID) to the page or account `account_id`, with an image attachment when
    `image_url` is given and a location attachment (``payload.coordinates``) for a shared `location`
    (lat, long in WGS84 degrees); `now_ms` is the Unix time in milliseconds."""
    message: dict[str, Any] = {"mid": mid or "m_" + secrets.token_hex(16), "text": text}
    attachments: list[dict[str, Any]] = []
    if image_url:
        attachments.append({"type": "image", "payload": {"url": image_url}})
    if location is not None:
        attachments.append({"type": "location", "title": "Pinned location",
                            "payload": {"coordinates": {"lat": location[0], "long": location[1]}}})
    if attachments:
        message["attachments"] = attachments
    return {"object": platform, "entry": [{"id": account_id, "time": now_ms, "messaging": [
        {"sender": {"id": sender_id}, "recipient": {"id": account_id}, "timestamp": now_ms, "message": message}]}]}


def whatsapp_delivery(*, phone_number_id: str, display_number: str, wa_id: str, name: str, text: str,
                      now_s: int, message_id: str | None = None, image_id: str | None = None,
                      location: tuple[float, float] | None = None) -> dict[str, Any]:
    """A WhatsApp Cloud delivery of one message from `wa_id` (the sender's number, digits only) to the
    business number `phone_number_id`: a text, or an image (media id `image_id`) with `text` as caption;
    a shared `location` (lat, long in WGS84 degrees) follows as a second message of type ``location``, as a
    resident shares one after writing; `now_s` is the Unix time in seconds."""
    message: dict[str, Any] = {"from": wa_id, "id": message_id or "wamid." + secrets.token_hex(16),
                               "timestamp": str(now_s)}
    if image_id:
        message |= {"type": "image", "image": {"id": image_id, "mime_type": "image/jpeg", "caption": text}}
    else:
        message |= {"type": "text", "text": {"body": text}}
    messages = [message]
    if location is not None:
        messages.append({"from": wa_id, "id": "wamid." + secrets.token_hex(16), "timestamp": str(now_s),
                         "type": "location", "location": {"latitude": location[0], "longitude": location[1]}})
    return {"object": "whatsapp_business_account", "entry": [{"id": "400000000000004", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": display_number, "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": messages}}]}]}
