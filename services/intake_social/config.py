"""intake_social's name and its own settings, read from the environment with the common prefix (`OMNI311_`).

Kept beside the service rather than in `shared/settings.py`: no other service needs Meta's or
Mastodon's credentials. Read inside `create_app`, never at import time (importing a module has no side
effect). The port is the service's entry in `shared.settings.SERVICE_PORTS`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import Environment, Settings, refuse_development_only

SERVICE = "intake_social"


class SocialSettings(BaseSettings):
    """Meta webhook and Mastodon settings, e.g. `OMNI311_META_APP_SECRET=...`.

    Without an app secret every webhook delivery is refused (403); without a Mastodon base URL and
    token, mentions are not read.
    """

    model_config = SettingsConfigDict(env_prefix="OMNI311_", env_file=None, extra="ignore", populate_by_name=True,
                                      hide_input_in_errors=True)  # a refusal never prints a secret

    meta_verify_token: SecretStr | None = Field(default=None, description="hub.verify_token of the subscription")
    meta_app_secret: SecretStr | None = Field(default=None, description="app secret: X-Hub-Signature-256 key")
    meta_page_ids: list[str] = Field(default_factory=list,
                                     description="Facebook page / Instagram account ids served (empty: any)")
    meta_whatsapp_phone_number_ids: list[str] = Field(default_factory=list,
                                                      description="WhatsApp phone number ids served (empty: any)")
    meta_graph_url: str = "https://graph.facebook.com/v21.0"
    meta_max_body_bytes: int = 4 * 1024 * 1024
    meta_access_token: SecretStr | None = Field(
        default=None, description="WhatsApp Cloud API token: resolves and downloads a WhatsApp media id "
                                  "(unset: the Graph link is kept, attributes.media_failed says why)")
    meta_media_timeout_s: float = Field(default=15.0, gt=0,
                                        description="seconds for one media download (the webhook waits for it)")
    meta_media_allow_private: bool = Field(
        default=False, description="also download from private and loopback addresses (local fakes under make "
                                   "run only; refused with OMNI311_ENVIRONMENT=production)")
    environment: Environment = Field(
        default="development", description="OMNI311_ENVIRONMENT, as `shared.settings.Settings.environment`: "
                                           "production refuses meta_media_allow_private")
    public_media_base_url: str | None = Field(
        default=None, validation_alias="OMNI311_SOCIAL_PUBLIC_MEDIA_BASE_URL",
        description="public base URL of intake_social's /media (e.g. https://311.example.org/social/media); "
                    "defaults to http://<http_host>:<port>/media")
    conversation_window_s: float = Field(
        default=24 * 3600.0, gt=0, validation_alias="OMNI311_SOCIAL_CONVERSATION_WINDOW_S",
        description="seconds after a contact's last message in which their next text joins their report "
                    "(24 h: Meta's standard messaging window)")

    mastodon_api_base_url: str | None = None
    mastodon_access_token: SecretStr | None = None
    mastodon_streaming: bool = Field(default=True, description="use the user stream when the server has one")
    mastodon_poll_interval_s: float = Field(default=15.0, gt=0, description="poll period without a stream")
    mastodon_stream_poll_interval_s: float = Field(default=120.0, gt=0,
                                                   description="safety-net poll period while streaming")
    mastodon_backfill_hours: float = Field(default=24.0, ge=0,
                                           description="how far back the first poll (no cursor yet) reads")
    mastodon_request_timeout_s: float = 15.0

    @model_validator(mode="after")
    def _no_private_media_in_production(self) -> SocialSettings:
        """Raises `ValueError` when OMNI311_META_MEDIA_ALLOW_PRIVATE is true in production (it lifts the
        server-side request forgery guard of `shared.media.fetch`)."""
        refuse_development_only(self.environment, {"OMNI311_META_MEDIA_ALLOW_PRIVATE": self.meta_media_allow_private})
        return self

    def mastodon_enabled(self) -> bool:
        """Mentions are read: a Mastodon base URL and an access token are both set."""
        return bool(self.mastodon_api_base_url and self.mastodon_access_token)


def media_base_url(s: Settings, cfg: SocialSettings) -> str:
    """Public base of our `/media`: `public_media_base_url` (OMNI311_SOCIAL_PUBLIC_MEDIA_BASE_URL), else this
    service's own address (`http://<http_host>:<port>/media`)."""
    return (cfg.public_media_base_url or f"http://{s.http_host}:{s.port_for(SERVICE)}/media").rstrip("/")
