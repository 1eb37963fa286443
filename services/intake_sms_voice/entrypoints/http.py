"""Puts the Twilio webhooks on the service's app: its wiring on `app.state`, the messaging and voice
routers, the 400/503 exception handlers, and an error logged at start when no auth token is set."""

from __future__ import annotations

from services.intake_sms_voice.config import TwilioSettings
from services.intake_sms_voice.entrypoints import messaging, voice
from services.intake_sms_voice.entrypoints.twilio import EXCEPTION_HANDLERS, Twilio
from services.intake_sms_voice.service_layer import handlers
from shared.service import Runtime


def mount(rt: Runtime, deps: handlers.Deps, settings: TwilioSettings) -> None:
    """Serve the webhooks on `rt.app` with `deps`; without an auth token every webhook answers 403."""
    tw = Twilio.of(rt, deps, settings)
    rt.app.state.twilio = tw
    for exc, handler in EXCEPTION_HANDLERS.items():
        rt.app.add_exception_handler(exc, handler)
    rt.app.include_router(messaging.router)
    rt.app.include_router(voice.router)

    async def warn_without_token() -> None:
        """At start: an error in the logs when no auth token is set (every webhook is then refused)."""
        if not tw.token:
            rt.log.error("twilio_auth_token_missing",
                         detail="OMNI311_TWILIO_AUTH_TOKEN is not set: every webhook is refused with 403")

    rt.on_start.append(warn_without_token)
