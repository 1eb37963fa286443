"""The forwarder's name and its own settings, read from the environment (`OMNI311_`) inside `create_app`.

The endpoints themselves are the jurisdiction's (`forwarding.endpoints` in jurisdiction.yaml); here are
what must not be in that file (each endpoint's API key, and a URL that replaces its `base_url`, keyed by
the endpoint's name) and the timing of the background loop. docs/integrations.md, "Open311 forwarding".
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE = "forwarder"


class ForwarderSettings(BaseSettings):
    """e.g. `OMNI311_FORWARDING_API_KEYS='{"county-public-works": "k3y"}'`,
    `OMNI311_FORWARDING_URLS='{"county-public-works": "http://127.0.0.1:9080"}'`."""

    model_config = SettingsConfigDict(env_prefix="OMNI311_", env_file=None, extra="ignore",
                                      hide_input_in_errors=True)  # a refusal never prints a key

    forwarding_urls: dict[str, str] = Field(
        default_factory=dict, description="JSON {endpoint name: base URL}: replaces the file's base_url.")
    forwarding_api_keys: dict[str, SecretStr] = Field(
        default_factory=dict, description="JSON {endpoint name: Open311 api_key}; an endpoint without one is "
                                          "sent no api_key.")
    forwarder_retry_base_s: float = Field(
        default=30.0, gt=0, description="Seconds before the 2nd send; doubled each failure (base × 2^(attempt−1)).")
    forwarder_retry_max_s: float = Field(default=3600.0, gt=0, description="Longest wait between two sends, seconds.")
    forwarder_timeout_s: float = Field(default=15.0, gt=0, description="Longest HTTP exchange with an endpoint, s.")
    forwarder_tick_s: float = Field(
        default=1.0, gt=0, description="Seconds between two rounds of the loop (due sends, due polls).")
    forwarder_lease_s: float = Field(
        default=120.0, gt=0, description="A send or a poll taken by a process and not finished after this many "
                                         "seconds (a crash) is due again; longer than one exchange takes.")
    forwarder_batch: int = Field(default=20, ge=1, description="Sends taken per round.")

    def api_key(self, endpoint: str) -> str | None:
        """The endpoint's API key, or None."""
        key = self.forwarding_api_keys.get(endpoint)
        return key.get_secret_value() if key is not None else None
