"""Settings for every omni311 service, read from the environment with one prefix (`OMNI311_`).

Nothing is read at import time: services call `Settings()` inside `create_app` (docs/architecture.md, house rule 6).
"""

from __future__ import annotations

from pathlib import Path

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

SERVICE_PORTS = {
    "intake_web": 8080,
    "case": 8081,
    "router": 8082,
    "dedup": 8083,
    "notifier": 8084,
    "intake_email": 8085,
    "intake_sms_voice": 8086,
    "intake_social": 8087,
    "workbench": 8088,
    "webhooks": 8089,
    "insights": 8090,
    "forwarder": 8094,
}


DEVELOPMENT_SECRETS = ("survey_secret", "portal_form_secret")
"""Settings whose defaults are public development values: refused when `Settings.environment` is production."""


Environment = Literal["development", "production"]
"""`OMNI311_ENVIRONMENT`: production refuses development defaults and development-only settings."""


def refuse_development_only(environment: str, switched_on: dict[str, bool]) -> None:
    """In production, raises `ValueError` naming (as `OMNI311_*` variables) each development-only setting of
    `switched_on` (variable name -> value) that is true; elsewhere, and when none is, returns. Used by the
    settings of a service whose development-only switch must never reach production (e.g. downloading media
    from private addresses, for the local fakes of `make run`)."""
    if environment != "production":
        return
    on = [name for name, value in switched_on.items() if value]
    if on:
        raise ValueError("OMNI311_ENVIRONMENT=production refuses development-only settings: "
                         + ", ".join(f"{name}=true" for name in on) + " (local fakes under make run only)")


class Settings(BaseSettings):
    """Every knob, one env var each: e.g. `OMNI311_KAFKA_BOOTSTRAP=127.0.0.1:9092`."""

    model_config = SettingsConfigDict(env_prefix="OMNI311_", env_file=None, extra="ignore",
                                      hide_input_in_errors=True)  # a refusal never prints a secret

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_replication_factor: int = Field(
        default=1, ge=1,
        description="Replicas of every topic the services create (3 in production and with "
                    "`make infra-up KAFKA_BROKERS=3`); never more than the brokers.")
    kafka_min_insync_replicas: int | None = Field(
        default=None, ge=1,
        description="`min.insync.replicas` of every topic created; unset: replication factor - 1 (at least 1), "
                    "so RF 3 takes writes with one broker down and acks=all still means two copies.")
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic and consumer group; lets test runs share one broker.",
    )
    pg_dsn: str = "postgresql://postgres@127.0.0.1:55432/omni311"
    pg_pool_max: int = 10
    environment: Environment = Field(
        default="development",
        description="production: refuse to start with a development default for a secret (survey links, the "
                    "portal's form tokens), so a forgotten setting never makes forgeable tokens.")
    jurisdiction: str = "demo"
    shared_data: Path = REPO_ROOT.parent / "shared" / "data"
    model_dir: Path = Field(
        default=REPO_ROOT / "var/models",
        description="Where learned classifier files are kept, one folder per jurisdiction, a file per model "
                    "version (<version>.joblib); a missing version is trained from the jurisdiction's history.")

    http_host: str = "127.0.0.1"
    http_port: int | None = Field(default=None, description="Defaults to the service's port in SERVICE_PORTS.")
    case_api_url: str = "http://127.0.0.1:8081"
    public_base_url: str = "http://127.0.0.1:8080"
    workbench_base_url: str = Field(default="http://127.0.0.1:8088",
                                    description="The staff workbench: links in staff emails, {base}/cases/{sid}.")
    workbench_intake_web_url: str = Field(
        default="http://127.0.0.1:8080",
        description="intake_web, whose JSON agent API (/agent/*) the workbench's call-agent console calls.")
    workbench_oidc_issuer: str | None = Field(
        default=None,
        description="A city's OpenID Connect provider (its issuer URL, e.g. https://idp.example.org/realms/city): "
                    "the workbench signs staff in there (authorization code + PKCE). Unset: development sign-in only.")
    workbench_oidc_client_id: str | None = None
    workbench_oidc_client_secret: str | None = None

    open311_api_keys: list[str] = Field(default_factory=lambda: ["demo-key"])

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 3025
    smtp_user: str | None = "city311"
    smtp_password: str | None = "secret"
    smtp_timeout_s: float = 10.0
    mail_from: str = Field(default="city311@omni311.test",
                           description="The city's 311 address: what the notifier sends from and intake_email reads.")
    mail_reply_subaddress: bool = Field(
        default=True,
        description="Reply-To local+<case number>@domain (RFC 5233 subaddress); false where the mail server "
                    "does not deliver subaddresses to the base mailbox (GreenMail): replies then thread by "
                    "In-Reply-To and the case number in the subject.")
    mail_from_name: str = "City 311"
    mail_authserv_id: str = Field(
        default="",
        description="authserv-id of our own mail server in Authentication-Results (RFC 8601); only its DMARC "
                    "verdict is trusted. Empty: trust none (every message is 'none').",
    )

    imap_host: str = "127.0.0.1"
    imap_port: int = 3143
    imap_tls: bool = False
    imap_user: str = "city311"
    imap_password: str = "secret"
    imap_mailbox: str = "INBOX"
    imap_timeout_s: float = Field(default=20.0, description="Longest wait for any IMAP answer, in seconds.")
    imap_use_idle: bool = Field(default=True, description="IDLE when the server offers it; false: always poll.")
    imap_idle_renew_s: float = Field(
        default=300.0, description="Seconds before an IDLE is ended and renewed (servers drop it after 30 min).")
    imap_poll_interval_s: float = Field(
        default=60.0, description="Seconds between polls without IDLE, and between safety polls during IDLE.")
    imap_reconnect_max_s: float = Field(default=30.0, description="Cap of the reconnect backoff, in seconds.")
    imap_processed_keyword: str = "$Omni311Ingested"
    public_media_base_url: str | None = Field(
        default=None,
        description="Public base URL of intake_email's /media (e.g. https://311.example.org/media); "
                    "defaults to http://<http_host>:<port>/media.",
    )

    auth_issuer: str = Field(default="omni311-dev", description="`iss` every staff token must carry (OIDC issuer).")
    auth_audience: str = Field(default="omni311", description="`aud` every staff token must carry.")
    auth_jwks_url: str = Field(
        default=str(REPO_ROOT / "var/dev-issuer/jwks.json"),
        description="Where the signing keys are: an http(s):// JWKS URL of the identity provider (e.g. Keycloak's "
                    "/realms/<realm>/protocol/openid-connect/certs) or a local JWKS file (reloaded when it changes).")
    auth_roles_claim: str = Field(default="roles", description="Claim with the role names; dotted path allowed "
                                                                "(realm_access.roles for Keycloak).")
    auth_department_claim: str = Field(default="department", description="Claim with the department id (dotted path).")
    auth_name_claim: str = Field(default="name", description="Claim with the display name (dotted path).")
    auth_teams_claim: str = Field(default="teams", description="Claim with the team ids (dotted path).")
    auth_role_map: dict[str, str] = Field(
        default_factory=dict,
        description='JSON object: identity-provider role name -> omni311 role, e.g. {"311-Agents": "call_agent"}; '
                    "omni311 role names are always accepted as they are.")
    auth_leeway_s: float = Field(default=30.0, description="Clock skew tolerated on exp/nbf/iat, in seconds.")
    auth_dev_issuer_dir: Path = Field(
        default=REPO_ROOT / "var/dev-issuer",
        description="Key pair of the development issuer (generated by `make venv`, never committed).")

    # The resident portal, maps, surveys, insights and abuse limits: docs/residents-and-insights.md.
    portal_base_url: str | None = Field(
        default=None, description="The portal as residents reach it (links in survey invitations and notices); "
                                  "defaults to public_base_url.")
    insights_api_url: str = Field(default="http://127.0.0.1:8090",
                                  description="The insights service, whose dashboard API the workbench calls.")
    notifier_api_url: str = Field(default="http://127.0.0.1:8084",
                                  description="The notifier's profile API (docs/integrations.md section 3), called "
                                              "by the portal's /profile/link and the workbench's person page.")
    workbench_intake_web_staff_url: str | None = Field(
        default=None, description="intake_web's /staff/refusals as the workbench calls it; defaults to "
                                  "workbench_intake_web_url.")
    map_tile_url: str = Field(
        default="", description="Base map tiles, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png. Empty: the "
                                "district polygons are the base layer (offline).")
    map_tile_attribution: str = Field(default="", description="Attribution shown with the tiles (HTML allowed).")
    survey_secret: str = Field(
        default="omni311-development-survey-secret-change-me",
        description="HMAC-SHA256 key of survey links (at least 32 bytes), shared by the notifier (writes links) and "
                    "intake_web (checks them).")
    survey_ttl_s: int = Field(default=30 * 86400, description="How long a survey link is valid, in seconds.")
    portal_form_secret: str = Field(default="omni311-development-form-secret-change-me",
                                    description="HMAC key of the portal's form tokens (spam guard).")
    portal_min_fill_s: float = Field(default=3.0, description="A report form sent sooner after it was served is refused.")
    portal_form_ttl_s: float = Field(default=7200.0, description="A report form older than this is refused.")
    portal_nearby_radius_m: float = Field(default=100.0, description="Open reports shown near a pin, in metres.")
    limit_reports_per_client: str = Field(default="10/minute", description="`limits` notation, per client address.")
    limit_reports_per_api_key: str = Field(default="600/minute", description="Open311 POST per api_key.")
    limit_uploads_per_client: str = "20/minute"
    limit_follows_per_client: str = Field(default="10/minute", description="Follow, survey and help answers.")
    limit_reads_per_client: str = Field(default="300/minute", description="Public GETs and open-data exports.")
    max_body_bytes: int = Field(default=262_144, description="Largest request body except uploads, in bytes.")
    max_upload_bytes: int = Field(default=10_485_760, description="Largest photo upload, in bytes.")
    photo_workers: int = Field(
        default=2, ge=1, description="Photos intake_web processes at once (each takes up to ~240 MB while it is "
                                     "decoded); 4 more per worker wait, the rest get 503 with Retry-After.")
    photo_unused_ttl_s: float = Field(
        default=86_400.0, gt=0, description="A portal photo no published report used is deleted after this "
                                            "many seconds (intake_web).")
    refusals_retention_days: int = Field(
        default=30, ge=1, description="Refusal-log rows (client addresses) older than this many days are deleted "
                                      "(at most once an hour, by intake_web's refusal recorder).")

    outbox_poll_interval_s: float = 1.0
    consumer_retry_attempts: int = 5
    consumer_retry_base_s: float = 0.2

    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _no_development_secret_in_production(self) -> Settings:
        """In production, every secret must be set (and be 32 bytes or more): raises `ValueError` naming them."""
        if self.environment == "production":
            weak = [name for name in DEVELOPMENT_SECRETS
                    if getattr(self, name) == type(self).model_fields[name].default or len(getattr(self, name)) < 32]
            if weak:
                raise ValueError("OMNI311_ENVIRONMENT=production needs secrets of your own (32 bytes or more) for "
                                 + ", ".join(f"OMNI311_{name.upper()}" for name in weak))
        return self

    def topic(self, name: str) -> str:
        """The real topic name for a registry topic."""
        return f"{self.topic_prefix}{name}"

    def group(self, service: str) -> str:
        """The consumer group id of a service (one per service, never shared)."""
        return f"{self.topic_prefix}{service}"

    def port_for(self, service: str) -> int:
        return self.http_port if self.http_port is not None else SERVICE_PORTS[service]
