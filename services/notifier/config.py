"""The notifier's name and its own channel settings (Twilio, Meta, Mastodon), read from the environment
(`OMNI311_`).

Kept beside the service rather than in `shared/settings.py`: no other service sends on these channels.
Read inside `create_app`, never at import time (importing a module has no side effect). A channel
without credentials is not configured: notices due there are recorded as `failed` with the reason,
never silently dropped. Email goes through the common SMTP settings (`OMNI311_SMTP_*`, `OMNI311_MAIL_*`).
"""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE = "notifier"


class ChannelSettings(BaseSettings):
    """e.g. `OMNI311_TWILIO_ACCOUNT_SID=AC...`, `OMNI311_META_GRAPH_BASE_URL=https://graph.facebook.com/v21.0`."""

    model_config = SettingsConfigDict(env_prefix="OMNI311_", env_file=None, extra="ignore")

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = Field(default=None, description="E.164 sender (or a Messaging Service sid)")
    twilio_api_base_url: str | None = Field(default=None, description="replaces https://api.twilio.com (tests)")
    twilio_public_base_url: str | None = Field(default=None,
                                               description="intake_sms_voice's public URL: StatusCallback base")

    meta_access_token: SecretStr | None = None
    meta_graph_base_url: str = "https://graph.facebook.com/v21.0"
    meta_whatsapp_phone_number_id: str | None = Field(default=None, description="WhatsApp Cloud sender id")
    meta_reply_window_h: float = Field(default=24.0, gt=0, description="Meta's standard messaging window")

    mastodon_api_base_url: str | None = None
    mastodon_access_token: SecretStr | None = None

    request_timeout_s: float = 15.0

    notifier_sweep_interval_s: float = Field(default=60.0, gt=0,
                                             description="seconds between two sweeps of deliveries left sending")
    notifier_send_concurrency: int = Field(
        default=8, ge=1, description="sends of one notifier process at once after a batch's commit, in order "
                                     "per case (services/notifier/README.md, \"Sends\")")
    notifier_sending_timeout_s: float = Field(
        default=900.0, gt=0, description="seconds after its claim a delivery still `sending` is settled failed "
                                         "(longer than the sends of one event take)")

    def twilio_enabled(self) -> bool:
        """Whether Twilio can send: account sid, auth token and sender are all set."""
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number)

    def status_callback(self) -> str | None:
        """The URL Twilio posts message statuses to (`<twilio_public_base_url>/twilio/status`), or None
        when no public URL is configured (then none is asked for)."""
        return self.twilio_public_base_url.rstrip("/") + "/twilio/status" if self.twilio_public_base_url else None


PROFILE_CODE_SECRET_DEFAULT = "omni311-development-profile-code-secret-change-me"


class ProfileSettings(BaseSettings):
    """Resident profiles (docs/integrations.md section 3), e.g. `OMNI311_PROFILE_CODE_SECRET=...`,
    `OMNI311_NOTIFIER_INTERNAL_TOKEN=...`. In production (`OMNI311_ENVIRONMENT=production`) the code
    secret must be set, 32 bytes or more (raises `ValueError`)."""

    model_config = SettingsConfigDict(env_prefix="OMNI311_", env_file=None, extra="ignore",
                                      hide_input_in_errors=True)

    environment: str = "development"
    profile_code_secret: SecretStr = Field(
        default=SecretStr(PROFILE_CODE_SECRET_DEFAULT),
        description="HMAC-SHA256 key of the link codes' digests (the codes are never stored)")
    profile_code_ttl_s: float = Field(default=600.0, gt=0, description="how long a link code is valid, seconds")
    profile_code_attempts: int = Field(default=5, ge=1, description="tries of a link request's codes")
    profile_link_requests_per_hour: int = Field(default=3, ge=1,
                                                description="link requests per email address or phone number "
                                                            "and hour")
    notifier_internal_token: SecretStr | None = Field(
        default=None, description="when set, POST /profile-links* need the header X-Omni311-Internal-Token "
                                  "with this value (intake_web sends it); unset: those routes rely on the "
                                  "network alone")

    @model_validator(mode="after")
    def _no_development_secret_in_production(self) -> ProfileSettings:
        secret = self.profile_code_secret.get_secret_value()
        if self.environment == "production" and (secret == PROFILE_CODE_SECRET_DEFAULT or len(secret) < 32):
            raise ValueError("OMNI311_ENVIRONMENT=production needs OMNI311_PROFILE_CODE_SECRET of your own "
                             "(32 bytes or more)")
        return self
