"""The webhooks service's name and its own settings (`OMNI311_WEBHOOKS_*`, docs/integrations.md section 1),
and what it reads from the jurisdiction (departments, the phone region for scrubbing). Read inside
`create_app`, never at import time."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.webhooks.domain import DepartmentOf, RetryPolicy
from shared.jurisdiction import Jurisdiction
from shared.settings import Environment, refuse_development_only

SERVICE = "webhooks"


class WebhooksSettings(BaseSettings):
    """One env var each, e.g. `OMNI311_WEBHOOKS_RETRY_BASE_S=5`."""

    model_config = SettingsConfigDict(env_prefix="OMNI311_WEBHOOKS_", env_file=None, extra="ignore",
                                      populate_by_name=True, hide_input_in_errors=True)

    timeout_s: float = Field(default=10.0, gt=0, le=60, description="Seconds a receiver has to answer an attempt.")
    retry_base_s: float = Field(default=5.0, gt=0, description="Backoff after the first failure, in seconds "
                                                               "(doubled after each further one).")
    retry_max_s: float = Field(default=3600.0, gt=0, description="The longest backoff, in seconds.")
    pause_after_failures: int = Field(default=10, ge=1, description="Failed attempts in a row that pause a "
                                                                    "subscription until an administrator resumes it.")
    secret_overlap_s: float = Field(default=86400.0, ge=0, description="Seconds the old secret keeps signing beside "
                                                                       "the new one after a rotation.")
    log_retention_days: float = Field(default=30.0, gt=0, description="Days the delivery log (and delivered "
                                                                      "messages) are kept.")
    allow_private: bool = Field(default=False, description="Also send to loopback and private addresses, and over "
                                                           "plain http (development and tests; refused in production).")
    poll_interval_s: float = Field(default=1.0, gt=0, description="Seconds between two rounds of the delivery loop "
                                                                  "when nothing wakes it.")
    batch: int = Field(default=20, ge=1, le=500, description="Subscriptions served at once in one round.")
    phone_region: str | None = Field(default=None, min_length=2, max_length=2,
                                     description="Where phone numbers without + are read when scrubbing (ISO 3166 "
                                                 "alpha-2); default: the jurisdiction's holiday country, else US.")
    environment: Environment = Field(default="development", validation_alias="OMNI311_ENVIRONMENT",
                                     description="OMNI311_ENVIRONMENT: production refuses allow_private.")

    @model_validator(mode="after")
    def _no_private_addresses_in_production(self) -> WebhooksSettings:
        """Raises `ValueError` when OMNI311_WEBHOOKS_ALLOW_PRIVATE is true in production (it lifts the
        server-side request forgery guard)."""
        refuse_development_only(self.environment, {"OMNI311_WEBHOOKS_ALLOW_PRIVATE": self.allow_private})
        return self

    def retry_policy(self) -> RetryPolicy:
        """The backoff and pause rule these settings give."""
        return RetryPolicy(base_s=self.retry_base_s, max_s=self.retry_max_s, pause_after=self.pause_after_failures)

    @property
    def lease_s(self) -> float:
        """Seconds a claimed message is held for its attempt: the timeout and a margin; a process that died
        mid-attempt leaves the message to be tried again after it."""
        return self.timeout_s + 30.0


def phone_region(jurisdiction: Jurisdiction, configured: str | None) -> str:
    """The region phone numbers without ``+`` are read in (upper case): `configured`, else the
    jurisdiction's own (`Jurisdiction.phone_region`, the rule every service uses)."""
    return (configured or jurisdiction.phone_region).upper()


def department_of(jurisdiction: Jurisdiction) -> DepartmentOf:
    """`department_of(queue, agency_responsible, service_code)`: the department id of the queue, else of the
    department whose `agency_responsible` it is, else of the service, else None."""
    by_agency = {d.agency_responsible: d.id for d in jurisdiction.departments}

    def lookup(queue: str | None, agency: str | None, service_code: str | None) -> str | None:
        if queue and (q := jurisdiction.queue(queue)) is not None:
            return q.department_id
        if agency and agency in by_agency:
            return by_agency[agency]
        service = jurisdiction.service(service_code) if service_code else None
        return service.department_id if service is not None else None

    return lookup
