"""Fakes and a signed-request client for the SMS/voice webhook tests: the real app and routes, with a
fake publisher (no Kafka) and a fake case API, driven through httpx's ASGI transport from a chosen peer IP."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from services.intake_sms_voice.app import create_app
from services.intake_sms_voice.config import TwilioSettings
from shared.events import Envelope
from shared.intake import CaseApiUnavailable
from shared.jurisdiction import load_jurisdiction
from shared.open311.models import ServiceRequest
from shared.settings import Settings

TOKEN = "test-auth-token"
PUBLIC = "https://sms.city.example"
PROXY_IP = "203.0.113.9"
NOW = datetime(2026, 11, 29, 15, 0, tzinfo=UTC)
TWILIO_DATA = Path(Settings().shared_data) / "twilio"


class FakePublisher:
    """Records what would go to `intake.messages`; `fail` makes the next publishes raise."""

    def __init__(self) -> None:
        self.published: list[Envelope] = []
        self.fail = False

    async def publish(self, envelope: Envelope) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.published.append(envelope)

    def of_type(self, event_type: str) -> list[Envelope]:
        return [e for e in self.published if e.event_type == event_type]


class FakeCaseApi:
    """The case service's read API (`shared.intake.CaseApi`): the cases given as their Open311 JSON, and
    `tokens` ((channel, channel message id) -> case number); `down` makes every read raise
    `CaseApiUnavailable`."""

    def __init__(self, requests: dict[str, dict[str, Any]] | None = None,
                 tokens: dict[tuple[str, str], str] | None = None) -> None:
        self.requests = {k: ServiceRequest.model_validate(v) for k, v in (requests or {}).items()}
        self.tokens = dict(tokens or {})
        self.asked: list[str] = []
        self.tokens_asked: list[tuple[str, str]] = []
        self.down = False

    async def request(self, service_request_id: str, *, extensions: bool = False) -> ServiceRequest | None:
        if self.down:
            raise CaseApiUnavailable("case API down (test)")
        self.asked.append(service_request_id)
        return self.requests.get(service_request_id)

    async def case_of_token(self, token: str, channel: str = "open311") -> str | None:
        if self.down:
            raise CaseApiUnavailable("case API down (test)")
        self.tokens_asked.append((token, channel))
        return self.tokens.get((channel, token))


class FakeOptOuts:
    """The opt-out store (`handlers.OptOuts`) in memory: contact key -> (opted out, changed at)."""

    def __init__(self) -> None:
        self.state: dict[str, tuple[bool, datetime]] = {}

    async def opted_out(self, contact_key: str) -> bool:
        return self.state.get(contact_key, (False, NOW))[0]

    async def record(self, contact_key: str, *, opted_out: bool, at: datetime) -> None:
        kept = self.state.get(contact_key)
        if kept is None or kept[1] <= at:
            self.state[contact_key] = (opted_out, at)


class FakeMedia:
    """Twilio's media URLs (`handlers.MediaSource`): url -> bytes; a URL not given raises; `asked` records
    (url, account sid). `keep` keeps an item given (our URL ``https://sms.city.example/media/<n>``,
    `kept` records (url, account sid, channel message id)); as the real store, the same bytes kept twice have
    one id (`<n>` counts distinct contents); `refused` maps a URL to the reason it is refused; any other URL
    is unavailable."""

    def __init__(self, items: dict[str, bytes] | None = None) -> None:
        self.items = dict(items or {})
        self.asked: list[tuple[str, str | None]] = []
        self.kept: list[tuple[str, str | None, str]] = []
        self.refused: dict[str, str] = {}

    async def keep(self, url: str, *, account_sid: str | None, channel_message_id: str) -> str:
        from shared.media import MediaRefused, MediaUnavailable

        if url in self.refused:
            raise MediaRefused(self.refused[url])
        if url not in self.items:
            raise MediaUnavailable("media answered 404")
        self.kept.append((url, account_sid, channel_message_id))
        contents = list(dict.fromkeys(self.items[u] for u, *_ in self.kept))
        return f"https://sms.city.example/media/{contents.index(self.items[url]) + 1}"

    async def read(self, url: str, *, account_sid: str | None, max_bytes: int) -> bytes:
        self.asked.append((url, account_sid))
        if url not in self.items:
            raise ConnectionError("no such media (test)")
        return self.items[url][:max_bytes + 1]


def sign(url: str, params: Iterable[tuple[str, str]] | dict[str, str], token: str = TOKEN) -> str:
    """Twilio's signature of a form post at `url` (what Twilio puts in X-Twilio-Signature)."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    multi: dict[str, list[str]] = {}
    for k, v in pairs:
        multi.setdefault(k, []).append(v)

    class _Multi(dict):  # the validator's multi-value accessor
        def getall(self, key: str) -> list[str]:
            return self[key]

    return RequestValidator(token).compute_signature(url, _Multi(multi))


@dataclass
class Harness:
    """The app under test and its fakes."""

    app: Any
    publisher: FakePublisher
    case_api: FakeCaseApi
    opt_outs: FakeOptOuts = field(default_factory=FakeOptOuts)
    media: FakeMedia = field(default_factory=FakeMedia)
    public: str = PUBLIC
    peer: str = "198.51.100.7"
    cookies: dict[str, str] = field(default_factory=dict)

    def client(self, peer: str | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(peer or self.peer, 44321))
        return httpx.AsyncClient(transport=transport, base_url="http://intake-sms-voice.internal:8086")

    async def post(self, path: str, params: Iterable[tuple[str, str]] | dict[str, str] | str, *,
                   signed_url: str | None = None, signature: str | None = None, headers: dict[str, str] | None = None,
                   peer: str | None = None, cookies: dict[str, str] | None = None) -> httpx.Response:
        """POST a form as Twilio would, signed for `signed_url` (default: the public URL of `path`).
        `params` may be a raw urlencoded body (sent byte for byte)."""
        if isinstance(params, str):
            body = params.encode()
            pairs = parse_qsl(params, keep_blank_values=True)
        else:
            pairs = list(params.items()) if isinstance(params, dict) else list(params)
            body = urlencode(pairs).encode()
        url = signed_url or (self.public + path)
        sig = sign(url, pairs) if signature is None else signature
        h = {"content-type": "application/x-www-form-urlencoded", **(headers or {})}
        if sig:
            h["x-twilio-signature"] = sig
        if cookies:
            h["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        async with self.client(peer) as c:
            return await c.post(path, content=body, headers=h)


def make_harness(*, public_base_url: str | None = PUBLIC, trusted: tuple[str, ...] = (PROXY_IP,),
                 token: str = TOKEN, keyword_replies: str = "service",
                 requests: dict[str, dict[str, Any]] | None = None,
                 clock: Callable[[], datetime] = lambda: NOW, geocoder: Any = None,
                 tokens: dict[tuple[str, str], str] | None = None, media: dict[str, bytes] | None = None) -> Harness:
    publisher = FakePublisher()
    case_api = FakeCaseApi(requests, tokens)
    opt_outs, reader = FakeOptOuts(), FakeMedia(media)
    tw = TwilioSettings(auth_token=token or None, public_base_url=public_base_url, trusted_proxies=list(trusted),
                        keyword_replies=keyword_replies, program_name="Demoville 311")
    app = create_app(Settings(jurisdiction="demo"), twilio=tw, publisher=publisher, case_api=case_api,
                     jurisdiction=_demo(), clock=clock, geocoder=geocoder, opt_outs=opt_outs, media=reader)
    return Harness(app=app, publisher=publisher, case_api=case_api, public=public_base_url or PUBLIC,
                   opt_outs=opt_outs, media=reader)


_DEMO: list[Any] = []


def _demo() -> Any:
    if not _DEMO:
        _DEMO.append(load_jurisdiction("demo"))
    return _DEMO[0]


@pytest.fixture
def harness() -> Harness:
    return make_harness()


def twilio_data(name: str) -> Any:
    return json.loads((TWILIO_DATA / name).read_text("utf-8"))


def sms_form(sid: str = "SM" + "a" * 32, body: str = "Pothole in front of 123 Main St", from_: str = "+15145550123",
             to: str = "+15145559999", **extra: str) -> dict[str, str]:
    """A Twilio inbound-message form (the fields Twilio always sends)."""
    return {"ToCountry": "CA", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid, "SmsStatus": "received",
            "Body": body, "To": to, "NumSegments": "1", "MessageSid": sid, "AccountSid": "AC" + "0" * 32,
            "From": from_, "ApiVersion": "2010-04-01", **extra}


SECRET = ("omni311-conversation:" + TOKEN).encode()
"""The conversation cookie's key in the harness (derived from its auth token, as `handlers.configure` does)."""


def state_of(cookie: str | None, from_: str = "+15145550123", now: datetime = NOW) -> Any:
    """What a conversation cookie the harness set says (`conversation.State`) for the number `from_`."""
    from services.intake_sms_voice.domain import conversation
    from services.intake_sms_voice.domain.inbound import parse_inbound

    key = parse_inbound(sms_form(from_=from_)).contact_key()
    return conversation.read_state(SECRET, cookie, contact_key=key, now=now)
