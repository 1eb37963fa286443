"""The intake edge as intake_web uses it: `shared.intake.KafkaIntakePublisher` on the runtime's broker
(topic from the event registry; each acknowledged publish counted in `omni311_events_handled`) and
`shared.intake.CaseApiClient` for every read of the case service."""

from __future__ import annotations

from shared.intake import CaseApiClient, KafkaIntakePublisher
from shared.service import Runtime
from shared.settings import Settings

CASE_API_TIMEOUT_S = 10.0
"""How long a read of the case API may take (seconds) before the caller is told to retry."""


def intake_publisher(rt: Runtime) -> KafkaIntakePublisher:
    """The publisher of intake events on `rt`'s broker (acks=all), counting each one by event type."""
    return KafkaIntakePublisher(rt.broker, rt.settings.topic,
                                on_published=lambda env: rt.handled.labels(env.event_type).inc())


def case_api_client(settings: Settings) -> CaseApiClient:
    """The case-API client at `settings.case_api_url`, not yet opened (`start()` in the lifespan)."""
    return CaseApiClient(settings.case_api_url, timeout_s=CASE_API_TIMEOUT_S)
