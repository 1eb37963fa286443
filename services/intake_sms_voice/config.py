"""intake_sms_voice's name and its own settings, from ``OMNI311_TWILIO_*`` variables (the shared settings
hold the rest: Kafka, topic prefix, case API URL, HTTP host; the port is `shared.settings.SERVICE_PORTS`).
Read inside `create_app`, never at import.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import Environment, Settings, refuse_development_only

SERVICE = "intake_sms_voice"


class TwilioSettings(BaseSettings):
    """E.g. ``OMNI311_TWILIO_AUTH_TOKEN``, ``OMNI311_TWILIO_PUBLIC_BASE_URL=https://311.city.example/sms``."""

    model_config = SettingsConfigDict(env_prefix="OMNI311_TWILIO_", env_file=None, extra="ignore",
                                      hide_input_in_errors=True)  # a refusal never prints the auth token

    auth_token: SecretStr | None = Field(
        default=None, description="Twilio auth token: signs every webhook. Required; without it all are refused.")
    public_base_url: str | None = Field(
        default=None,
        description="The scheme://host[:port][/prefix] Twilio is configured with (what it signs). Unset: "
                    "forwarded headers from trusted proxies, else the request's own host.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="IPs/CIDRs whose X-Forwarded-* and Forwarded headers are believed (JSON list), matched "
                    "against the socket's peer (never X-Forwarded-For).")
    default_region: str = Field(default="US", description="ISO country for numbers written without +.")
    keyword_replies: Literal["service", "provider"] = Field(
        default="service",
        description="'service': we confirm STOP/START/HELP (EN/FR) in TwiML. 'provider': Twilio's Advanced "
                    "Opt-Out already answers them, we answer with an empty <Response/> (no double replies).")
    program_name: str = Field(default="City 311", description="Name our texts start with (carrier rules).")
    conversation_window_s: float = Field(
        default=4 * 3600, description="How long a location answer completes its report (Twilio keeps "
                                      "conversation cookies four hours).")
    max_body_bytes: int = Field(default=256 * 1024, description="Larger webhook bodies are refused (413).")
    public_media_base_url: str | None = Field(
        default=None,
        description="Public base URL of this service's /media (e.g. https://311.city.example/sms/media), where "
                    "the media kept at intake are served; defaults to http://<http_host>:<port>/media.")
    media_allow_private: bool = Field(
        default=False,
        description="Also download media from loopback and private addresses, and contact cards over plain "
                    "http (local fakes under `make run` only; refused with OMNI311_ENVIRONMENT=production).")
    environment: Environment = Field(
        default="development", validation_alias="OMNI311_ENVIRONMENT",
        description="OMNI311_ENVIRONMENT, as `shared.settings.Settings.environment`: production refuses "
                    "media_allow_private.")

    @model_validator(mode="after")
    def _no_private_media_in_production(self) -> TwilioSettings:
        """Raises `ValueError` when OMNI311_TWILIO_MEDIA_ALLOW_PRIVATE is true in production (it lifts the
        server-side request forgery guard of `shared.media.fetch`)."""
        refuse_development_only(self.environment, {"OMNI311_TWILIO_MEDIA_ALLOW_PRIVATE": self.media_allow_private})
        return self


def media_base_url(s: Settings, tw: TwilioSettings) -> str:
    """Public base of our `/media`: `public_media_base_url` (OMNI311_TWILIO_PUBLIC_MEDIA_BASE_URL), else this
    service's own address."""
    return (tw.public_media_base_url or f"http://{s.http_host}:{s.port_for(SERVICE)}/media").rstrip("/")
