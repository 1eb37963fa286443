"""Insights settings: the common `shared.settings.Settings` (jurisdiction, Kafka, PostgreSQL, staff tokens,
`OMNI311_LIMIT_READS_PER_CLIENT`) and its own (`InsightsSettings`); the time zone, departments and phone
region come from the jurisdiction's files."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.jurisdiction import Jurisdiction

SERVICE = "insights"


class InsightsSettings(BaseSettings):
    """One env var each (prefix `OMNI311_INSIGHTS_`), read in `create_app`."""

    model_config = SettingsConfigDict(env_prefix="OMNI311_INSIGHTS_", env_file=None, extra="ignore")

    refresh_interval_s: float = Field(default=5.0, gt=0, description="Seconds between refreshes of the gauges.")
    export_prefetch: int = Field(default=500, ge=1, le=10_000,
                                 description="Rows the open-data cursor holds at a time.")
    export_connections: int = Field(default=4, ge=1, le=100,
                                    description="Open-data downloads streamed at once (a pool of their own); "
                                                "more wait for a connection.")
    phone_region: str | None = Field(
        default=None, min_length=2, max_length=2,
        description="Where phone numbers without + are read when scrubbing (ISO 3166 alpha-2); default: the "
                    "jurisdiction's holiday country, else US.")


def phone_region(jurisdiction: Jurisdiction, configured: str | None) -> str:
    """The region phone numbers without ``+`` are read in: `configured`, else the country of the
    jurisdiction's holidays, else ``US`` (upper case)."""
    if configured:
        return configured.upper()
    country = jurisdiction.holidays.country if jurisdiction.holidays is not None else None
    return (country or "US").upper()


def department_of(jurisdiction: Jurisdiction):  # noqa: ANN201 - a DepartmentOf
    """`department_of(queue, service_code)`: the department id of the queue a case was routed to, else of
    its service, else None."""

    def lookup(queue: str, service_code: str) -> str | None:
        q = jurisdiction.queue(queue)
        if q is not None:
            return q.department_id
        service = jurisdiction.service(service_code)
        return service.department_id if service is not None else None

    return lookup


def department_names(jurisdiction: Jurisdiction) -> dict[str, str]:
    """Department id → name, for the dashboard."""
    return {d.id: d.name for d in jurisdiction.departments}
