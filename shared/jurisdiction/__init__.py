"""Jurisdictions as configuration: services, departments, districts, calendars and rules loaded from YAML."""

from shared.jurisdiction.calendar import BusinessCalendar
from shared.jurisdiction.config import PRIORITY_NAMES, JurisdictionConfig
from shared.jurisdiction.derive import DerivedCatalogue, derive_services
from shared.jurisdiction.errors import JurisdictionConfigError
from shared.jurisdiction.forwarding import ForwardingEndpoint, ForwardingSpec
from shared.jurisdiction.geo import District, DistrictIndex, distance_m
from shared.jurisdiction.loader import (
    build_jurisdiction,
    clear_cache,
    jurisdiction_path,
    load_jurisdiction,
    repo_root,
    shared_data_root,
)
from shared.jurisdiction.model import DedupPolicy, Department, Jurisdiction, Keyword, Queue, Service
from shared.jurisdiction.text import normalize_text, service_code_for, stem, tokens
from shared.jurisdiction.workflow import (
    CannedResponse,
    Escalation,
    Retention,
    StatusSpec,
    Team,
    TransitionNotAllowed,
    UnknownStatus,
    Workflow,
    default_workflow,
)

__all__ = [
    "PRIORITY_NAMES",
    "BusinessCalendar",
    "CannedResponse",
    "DedupPolicy",
    "Department",
    "DerivedCatalogue",
    "District",
    "DistrictIndex",
    "Escalation",
    "ForwardingEndpoint",
    "ForwardingSpec",
    "Jurisdiction",
    "JurisdictionConfig",
    "JurisdictionConfigError",
    "Keyword",
    "Queue",
    "Retention",
    "Service",
    "StatusSpec",
    "Team",
    "TransitionNotAllowed",
    "UnknownStatus",
    "Workflow",
    "build_jurisdiction",
    "clear_cache",
    "default_workflow",
    "derive_services",
    "distance_m",
    "jurisdiction_path",
    "load_jurisdiction",
    "normalize_text",
    "repo_root",
    "service_code_for",
    "shared_data_root",
    "stem",
    "tokens",
]
