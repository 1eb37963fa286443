"""intake_web's name and the settings of its call-agent console, from ``OMNI311_AGENT_*`` variables (the
common `shared.settings.Settings` hold the rest: Open311 api keys, case API URL, Kafka, and the staff
sign-in, ``OMNI311_AUTH_*``). Read inside `create_app`, never at import."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE = "intake_web"


class AgentSettings(BaseSettings):
    """E.g. ``OMNI311_AGENT_DEFAULT_REGION=CA``. Agents sign in with a staff token (`shared.auth`)."""

    model_config = SettingsConfigDict(env_prefix="OMNI311_AGENT_", env_file=None, extra="ignore")

    default_region: str | None = Field(
        default=None, description="ISO country for caller numbers written without +; default: the "
                                  "jurisdiction's holiday country, else US.")
    case_poll_interval_ms: int = Field(default=1000, description="How often the console asks for the case number.")
