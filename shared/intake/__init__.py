"""The intake edge every adapter service shares: one publisher for intake events and one typed client
for the case service's read API."""

from shared.intake.case_api import (
    CaseApi,
    CaseApiClient,
    CaseApiNoRoute,
    CaseApiRefused,
    CaseApiUnavailable,
    could_name_a_case,
    path_segment,
)
from shared.intake.publisher import IntakePublisher, KafkaIntakePublisher

__all__ = ["CaseApi", "CaseApiClient", "CaseApiNoRoute", "CaseApiRefused", "CaseApiUnavailable", "IntakePublisher",
           "KafkaIntakePublisher", "could_name_a_case", "path_segment"]
