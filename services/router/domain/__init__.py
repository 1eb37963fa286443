"""Router domain: pure routing decisions (category, district, queue, priority, SLA), the replies that
confirm a place, and the replay of logged decisions under a draft configuration; no I/O."""

from services.router.domain.classify import Candidate, KeywordClassifier, classifier_for
from services.router.domain.decisions import (
    awaits_place,
    decide,
    decide_input,
    fields_of,
    located_input,
    logged_decision,
    logged_input,
    logged_place,
    logged_suggestions,
    manual,
    pending_confirmation,
    recategorised_input,
    routing_input,
)
from services.router.domain.model import (
    CategorySource,
    LocationStatus,
    ModelSuggestions,
    Place,
    PlaceLookup,
    RoutingDecision,
    RoutingInput,
)
from services.router.domain.replay import CHANGE_KINDS, ReplayRow, replay
from services.router.domain.replies import is_affirmative
from services.router.domain.routing import DEFAULT_RULE_ID, needs_text_classification, override_keyword, route

__all__ = [
    "CHANGE_KINDS",
    "DEFAULT_RULE_ID",
    "Candidate",
    "CategorySource",
    "KeywordClassifier",
    "LocationStatus",
    "ModelSuggestions",
    "Place",
    "PlaceLookup",
    "ReplayRow",
    "RoutingDecision",
    "RoutingInput",
    "awaits_place",
    "classifier_for",
    "decide",
    "decide_input",
    "fields_of",
    "is_affirmative",
    "located_input",
    "logged_decision",
    "logged_input",
    "logged_place",
    "logged_suggestions",
    "manual",
    "needs_text_classification",
    "override_keyword",
    "pending_confirmation",
    "recategorised_input",
    "replay",
    "routing_input",
    "route",
]
