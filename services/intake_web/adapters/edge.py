"""The intake edge as intake_web uses it: `shared.intake.KafkaIntakePublisher` on the runtime's broker
(topic from the event registry; each acknowledged publish counted in `omni311_events_handled`) and
`shared.intake.CaseApiClient` for every read of the case service: one for the Open311 reads, one for the
console's look-ups, each with its own timeout."""

from __future__ import annotations

from shared.intake import CaseApiClient, KafkaIntakePublisher
from shared.service import Runtime
from shared.settings import Settings

OPEN311_READ_TIMEOUT_S = 10.0
"""How long an Open311 read of the case API may take (seconds) before the client is told to retry."""
CONSOLE_LOOKUP_TIMEOUT_S = 5.0
"""How long a console look-up (a token's case, a caller's earlier cases) may take (seconds): an agent is
on the line, so the console says "unavailable" (or retries the token) sooner."""


def intake_publisher(rt: Runtime) -> KafkaIntakePublisher:
    """The publisher of intake events on `rt`'s broker (acks=all), counting each one by event type."""
    return KafkaIntakePublisher(rt.broker, rt.settings.topic,
                                on_published=lambda env: rt.handled.labels(env.event_type).inc())


def case_api_clients(settings: Settings) -> tuple[CaseApiClient, CaseApiClient]:
    """The case-API clients at `settings.case_api_url` for the Open311 reads and for the console, in that
    order; not yet opened (`start()` in the lifespan)."""
    return (CaseApiClient(settings.case_api_url, timeout_s=OPEN311_READ_TIMEOUT_S),
            CaseApiClient(settings.case_api_url, timeout_s=CONSOLE_LOOKUP_TIMEOUT_S))
