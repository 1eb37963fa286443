"""Senders for the resident's own channel: SMS/WhatsApp with the twilio client, Meta's Send API and
WhatsApp Cloud messages with httpx, Mastodon direct messages with Mastodon.py.

Each `send` returns the provider's message id, or raises (the handler records `failed`). The blocking
client libraries (twilio, Mastodon.py) run in a worker thread.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from services.notifier.config import ChannelSettings

TWILIO_API = "https://api.twilio.com"


def rebased_twilio_http_client(base_url: str, timeout: float) -> Any:
    """The twilio library's own HTTP client, sending its requests to another base URL (a local fake in
    tests, an egress proxy in production); paths, auth and form bodies stay the library's.

    Built on demand: importing twilio (requests, urllib3) probes IPv6 with a socket, never at import time.
    """
    from twilio.http.http_client import TwilioHttpClient

    base = base_url.rstrip("/")

    class RebasedTwilioHttpClient(TwilioHttpClient):  # type: ignore[misc]
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if url.startswith(TWILIO_API):
                url = base + url[len(TWILIO_API):]
            return super().request(method, url, *args, **kwargs)

    return RebasedTwilioHttpClient(timeout=timeout)


class TwilioSender:
    """SMS (or WhatsApp through Twilio, `whatsapp:` addresses) with `Client.messages.create`."""

    def __init__(self, cfg: ChannelSettings) -> None:
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        assert cfg.twilio_account_sid and cfg.twilio_auth_token and cfg.twilio_from_number
        http = (rebased_twilio_http_client(cfg.twilio_api_base_url, cfg.request_timeout_s) if cfg.twilio_api_base_url
                else TwilioHttpClient(timeout=cfg.request_timeout_s))
        self._client = Client(cfg.twilio_account_sid, cfg.twilio_auth_token.get_secret_value(), http_client=http)
        self._from = cfg.twilio_from_number
        self._callback = cfg.status_callback()

    async def send(self, to: str, body: str, *, whatsapp: bool = False) -> str:
        """Send `body` to `to` (E.164; as ``whatsapp:<number>`` when `whatsapp`), from the configured number
        or Messaging Service, with the status callback when one is configured; returns the MessageSid.
        Raises `twilio.base.exceptions.TwilioRestException` (refused, e.g. error 21610) or a
        `requests` error (unreachable)."""
        kwargs: dict[str, Any] = {"to": f"whatsapp:{to}" if whatsapp else to, "body": body}
        if self._from.startswith("MG"):
            kwargs["messaging_service_sid"] = self._from
        else:
            kwargs["from_"] = f"whatsapp:{self._from}" if whatsapp else self._from
        if self._callback:
            kwargs["status_callback"] = self._callback
        message = await asyncio.to_thread(self._client.messages.create, **kwargs)
        return str(message.sid)


class MetaSender:
    """Messenger / Instagram Send API (`POST /me/messages`, RESPONSE within the reply window) and WhatsApp
    Cloud (`POST /{phone-number-id}/messages`, a text message)."""

    def __init__(self, cfg: ChannelSettings) -> None:
        assert cfg.meta_access_token
        self._base = cfg.meta_graph_base_url.rstrip("/")
        self._token = cfg.meta_access_token.get_secret_value()
        self._wa_id = cfg.meta_whatsapp_phone_number_id
        self._timeout = cfg.request_timeout_s

    async def send(self, channel: str, recipient: str, text: str) -> str:
        """Send `text` to `recipient` (a WhatsApp id when `channel` is ``whatsapp``, else a Messenger PSID or
        Instagram IGSID); returns the platform's message id (``wamid.…`` or ``m_…``). Raises
        `httpx.HTTPStatusError` (refused, e.g. outside the reply window), `httpx.HTTPError` (unreachable),
        `KeyError` (an answer without a message id) or `RuntimeError` (WhatsApp without a sender id)."""
        headers = {"Authorization": f"Bearer {self._token}"}
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            if channel == "whatsapp":
                if not self._wa_id:
                    raise RuntimeError("OMNI311_META_WHATSAPP_PHONE_NUMBER_ID is not set")
                r = await client.post(f"{self._base}/{self._wa_id}/messages", headers=headers, json={
                    "messaging_product": "whatsapp", "recipient_type": "individual", "to": recipient,
                    "type": "text", "text": {"preview_url": False, "body": text}})
                r.raise_for_status()
                return str(r.json()["messages"][0]["id"])
            r = await client.post(f"{self._base}/me/messages", headers=headers, json={
                "recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": {"text": text}})
            r.raise_for_status()
            return str(r.json()["message_id"])


class MastodonSender:
    """A direct message (visibility ``direct``) answering the resident's status, so that nothing about the
    case is posted publicly; it mentions the resident, as a direct message must."""

    def __init__(self, cfg: ChannelSettings) -> None:
        from mastodon import Mastodon

        assert cfg.mastodon_api_base_url and cfg.mastodon_access_token
        self._api = Mastodon(api_base_url=cfg.mastodon_api_base_url,
                             access_token=cfg.mastodon_access_token.get_secret_value(),
                             version_check_mode="none", request_timeout=cfg.request_timeout_s)

    async def send(self, handle: str, text: str, in_reply_to_id: str | None) -> str:
        """Post `text` as a direct message to `handle` (``@user@server``, the ``@`` added when missing),
        answering the status `in_reply_to_id` when given; returns the new status's id. Raises
        `mastodon.MastodonError` (refused, or `MastodonNetworkError` when unreachable)."""
        mention = handle if handle.startswith("@") else f"@{handle}"
        status = await asyncio.to_thread(self._api.status_post, f"{mention} {text}", in_reply_to_id=in_reply_to_id,
                                         visibility="direct")
        return str(status["id"])
