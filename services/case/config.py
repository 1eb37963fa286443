"""Case settings: the common `shared.settings.Settings` (jurisdiction, Kafka, PostgreSQL); the case service
takes its case-number prefix and time zone from the jurisdiction's files. Its own settings are those of
its background loop (`TimerSettings`: the SLA timer and the retention job)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE = "case"


class TimerSettings(BaseSettings):
    """The case service's background loop, one env var each (prefix `OMNI311_`), read in `create_app`."""

    model_config = SettingsConfigDict(env_prefix="OMNI311_", env_file=None, extra="ignore")

    sla_timer_interval_s: float = Field(
        default=5.0, gt=0,
        description="Longest sleep of the SLA timer between rounds, in seconds (it wakes earlier for a clock "
                    "due sooner); also how soon a clock armed by another process is seen.")
    sla_timer_batch: int = Field(default=100, ge=1, description="Clocks fired per transaction.")
    retention_interval_s: float = Field(
        default=3600.0, gt=0, description="Seconds between runs of the retention job (the first at start).")
    retention_batch: int = Field(default=20, ge=1, description="Cases erased per transaction.")
    retention_pseudonym_key: str = Field(
        default="", repr=False,
        description="Secret key of the retention job's pseudonyms (HMAC-SHA256), for a jurisdiction whose "
                    "retention mode is pseudonymise; without it a phone number's pseudonym can be found "
                    "again by trying every number. Keep it secret and unchanged (pseudonyms stay linkable).")
