"""Posting to our Twilio webhooks as Twilio does: form-encoded and signed (X-Twilio-Signature) for the
public URL the provider knows, which differs from the local one behind a proxy."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator


def sms_form(sid: str, body: str, from_: str, *, to: str = "+16135550311",
             account_sid: str = "AC" + "0" * 32) -> dict[str, str]:
    """An inbound SMS webhook body as Twilio sends it (no media)."""
    return {"ToCountry": "CA", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
            "Body": body, "To": to, "NumSegments": "1", "MessageSid": sid, "AccountSid": account_sid,
            "From": from_, "ApiVersion": "2010-04-01"}


async def post_signed(client: httpx.AsyncClient, public_url: str, form: dict[str, str], *, token: str,
                      public_base: str, cookies: dict[str, str] | None = None) -> httpx.Response:
    """POST `form` to `public_url` (under `public_base`, query included) on the local `client`, signed
    with the auth `token` for the public URL."""
    assert public_url.startswith(public_base), public_url
    headers = {"content-type": "application/x-www-form-urlencoded",
               "x-twilio-signature": RequestValidator(token).compute_signature(public_url, form)}
    if cookies:
        headers["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return await client.post(public_url[len(public_base):], content=urlencode(form).encode(), headers=headers)


def twiml_messages(response: httpx.Response) -> list[str]:
    """The texts of the `<Message>` verbs of a TwiML answer."""
    return [m.text or "" for m in ET.fromstring(response.text).iter("Message")]
