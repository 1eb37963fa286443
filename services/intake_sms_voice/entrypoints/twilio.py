"""The edge every Twilio webhook shares: the service's wiring on the app, the signature check each
route depends on (403 when it fails, 413 for an oversized body), TwiML answers, and the translation of
a bad webhook (400) and of a publish Kafka did not acknowledge (503, so that Twilio retries)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, Response

from services.intake_sms_voice.adapters import twiml
from services.intake_sms_voice.adapters.signature import (
    SIGNATURE_HEADER,
    FormParams,
    PublicUrlPolicy,
    parse_form,
    signature_valid,
)
from services.intake_sms_voice.config import TwilioSettings
from services.intake_sms_voice.domain.inbound import InvalidWebhook
from services.intake_sms_voice.service_layer import handlers
from shared.service import Runtime, socket_origin

FORM = "application/x-www-form-urlencoded"
T = TypeVar("T")


@dataclass(frozen=True)
class Twilio:
    """What the webhook routes use, kept on `app.state.twilio`: the runtime (clock, log, metrics), the
    handlers' dependencies, the Twilio settings, the public URL policy and the auth token ("" when unset:
    every webhook is refused)."""

    rt: Runtime
    deps: handlers.Deps
    settings: TwilioSettings
    policy: PublicUrlPolicy
    token: str

    @classmethod
    def of(cls, rt: Runtime, deps: handlers.Deps, settings: TwilioSettings) -> Twilio:
        """The wiring from the Twilio settings; raises `ValueError` for a public base URL that is not
        absolute or a trusted proxy that is no IP address or network."""
        token = settings.auth_token.get_secret_value() if settings.auth_token else ""
        policy = PublicUrlPolicy(base_url=settings.public_base_url, trusted_proxies=tuple(settings.trusted_proxies))
        return cls(rt=rt, deps=deps, settings=settings, policy=policy, token=token)


def twilio(request: Request) -> Twilio:
    """The service's wiring (a FastAPI dependency)."""
    return request.app.state.twilio


@dataclass(frozen=True)
class Webhook:
    """A request that passed the signature check: its form fields (first value each), the public root
    URL for our own action URLs, its cookies and its query."""

    params: dict[str, str]
    root: str
    cookies: dict[str, str]
    query: dict[str, str]


async def verified(request: Request, tw: Annotated[Twilio, Depends(twilio)]) -> Webhook:
    """The signature check every webhook route depends on: 403 (and a log line) when it fails."""
    body = await request.body()
    if len(body) > tw.settings.max_body_bytes:
        raise HTTPException(413, "request body too large")
    # The socket's peer and scheme, never those the server took from X-Forwarded-For/-Proto: whether
    # the caller is a trusted proxy is decided here once, from the connection itself.
    peer, scheme = socket_origin(request.scope)
    headers = {k.lower(): v for k, v in request.headers.items()}
    url = tw.policy.public_url(
        scheme=scheme, host=headers.get("host", request.url.netloc),
        raw_path=request.scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
        query=request.scope.get("query_string", b"").decode("latin-1"), headers=headers, peer=peer)
    form: FormParams | None = None
    reason = None
    if headers.get("content-type", "").split(";")[0].strip().lower() == FORM:
        try:
            form = parse_form(body)
        except UnicodeDecodeError:
            reason = "body is not UTF-8"
    if reason is None and not tw.token:
        reason = "no auth token configured"
    if reason is None and not headers.get(SIGNATURE_HEADER):
        reason = "missing signature"
    if reason is None and not signature_valid(tw.token, url, signature=headers.get(SIGNATURE_HEADER), form=form,
                                              body=body):
        reason = "invalid signature"
    if reason is not None:
        # Never the URL's query or the body: they hold phone numbers and messages.
        tw.rt.log.warning("twilio_signature_rejected", reason=reason, path=request.url.path,
                          peer=peer, trusted_proxy=tw.policy.trusts(peer))
        raise HTTPException(403, "Twilio request validation failed")
    root = tw.policy.public_root(scheme=scheme, host=headers.get("host", request.url.netloc),
                                 headers=headers, peer=peer)
    return Webhook(params=form.first() if form else {}, root=root, cookies=dict(request.cookies),
                   query=dict(request.query_params))


Ctx = Annotated[Twilio, Depends(twilio)]
Hook = Annotated[Webhook, Depends(verified)]


_PLAIN = {"text/plain": {"schema": {"type": "string"}}}
_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"description": "A malformed webhook (the reason, as text)", "content": _PLAIN},
    403: {"description": "The Twilio signature does not verify"},
    503: {"description": "Kafka did not take the event: Twilio retries (`Retry-After`)", "content": _PLAIN},
}
TWIML: dict[str, Any] = {"response_class": Response, "responses": {
    200: {"description": "TwiML: a `<Response>` document (Twilio's markup)",
          "content": {twiml.MEDIA_TYPE: {"schema": {"type": "string", "description": "TwiML `<Response>`"}}}},
    **_REFUSALS}}
"""Route arguments documenting a webhook answered with TwiML (`xml`)."""
NO_CONTENT: dict[str, Any] = {"status_code": 204, "response_class": Response, "responses": _REFUSALS}
"""Route arguments documenting a callback answered 204 with no body."""


def xml(content: str, status: int = 200) -> Response:
    """A TwiML answer."""
    return Response(content=content, status_code=status, media_type=twiml.MEDIA_TYPE)


class PublishFailed(Exception):
    """Kafka did not take the event: answer 503 so that Twilio's retry (connection overrides
    ``#rc=..&rp=5xx``) brings the same sid back; idempotent event ids make the retry safe."""


async def guarded(tw: Twilio, call: Awaitable[T]) -> T:
    """Await a handler that publishes; any failure is an outage for Twilio: raises `PublishFailed`."""
    try:
        return await call
    except Exception as exc:  # noqa: BLE001 - any publish failure is an outage for Twilio
        tw.rt.log.error("intake_publish_failed", error=repr(exc))
        raise PublishFailed from exc


async def invalid_webhook(_request: Request, exc: Exception) -> Response:
    """`InvalidWebhook` (a required field missing or malformed): 400 with the reason."""
    return Response(content=str(exc), status_code=400, media_type="text/plain")


async def publish_failed(_request: Request, _exc: Exception) -> Response:
    """`PublishFailed`: 503 with Retry-After, so that Twilio sends the webhook again."""
    return Response(content="intake is unavailable for a moment", status_code=503,
                    headers={"Retry-After": "5"}, media_type="text/plain")


EXCEPTION_HANDLERS = {InvalidWebhook: invalid_webhook, PublishFailed: publish_failed}
