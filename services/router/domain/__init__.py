"""Router domain: pure routing decisions (category, district, queue, priority, SLA); no I/O."""

from services.router.domain.decisions import (
    decide,
    decide_input,
    located_input,
    logged_decision,
    manual,
    recategorised_input,
    routing_input,
)
from services.router.domain.classify import Candidate, KeywordClassifier, classifier_for
from services.router.domain.model import CategorySource, LocationStatus, RoutingDecision, RoutingInput
from services.router.domain.routing import DEFAULT_RULE_ID, route

__all__ = [
    "DEFAULT_RULE_ID",
    "Candidate",
    "CategorySource",
    "KeywordClassifier",
    "LocationStatus",
    "RoutingDecision",
    "RoutingInput",
    "classifier_for",
    "decide",
    "decide_input",
    "located_input",
    "logged_decision",
    "manual",
    "recategorised_input",
    "routing_input",
    "route",
]
