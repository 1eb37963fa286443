"""Open311 GeoReport v2: resource models, XML/JSON wire formats and POST form validation."""

from shared.open311.models import (
    AttributeValue,
    Open311Error,
    PostServiceRequestResponse,
    Service,
    ServiceAttribute,
    ServiceDefinition,
    ServiceRequest,
    to_aware_utc,
)
from shared.open311.post import (
    DESCRIPTION_MAX_CHARS,
    InvalidPostServiceRequest,
    PostServiceRequest,
    coordinate_problem,
    parse_post_form,
)
from shared.open311.wire import (
    Open311FormatError,
    parse_errors,
    parse_post_response,
    parse_requests,
    parse_service_definition,
    parse_services,
    render_errors,
    render_post_response,
    render_requests,
    render_service_definition,
    render_services,
)

__all__ = [
    "DESCRIPTION_MAX_CHARS",
    "AttributeValue",
    "InvalidPostServiceRequest",
    "Open311Error",
    "Open311FormatError",
    "PostServiceRequest",
    "PostServiceRequestResponse",
    "Service",
    "ServiceAttribute",
    "ServiceDefinition",
    "ServiceRequest",
    "coordinate_problem",
    "parse_errors",
    "parse_post_form",
    "parse_post_response",
    "parse_requests",
    "parse_service_definition",
    "parse_services",
    "render_errors",
    "render_post_response",
    "render_requests",
    "render_service_definition",
    "render_services",
    "to_aware_utc",
]
