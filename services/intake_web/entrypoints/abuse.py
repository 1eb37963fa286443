"""Which of intake_web's public routes takes which limit, and the wiring of `shared.abuse` on the app: the
429 handler, the 413 middleware, and the refusal recorder writing `intake_web.refusals` (docs/
residents-and-insights.md, "Abuse protection"). Every public router is included with ``dependencies=[PUBLIC]``."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Depends

from services.intake_web.adapters.refusals import PgRefusals, RefusalLog
from services.intake_web.config import SERVICE
from services.intake_web.entrypoints import staff
from services.intake_web.service_layer.portal import MAX_PHOTOS
from shared.abuse import Abuse, Limit, RefusalRecorder, guard, install
from shared.service import Runtime

PUBLIC_LIMITS: dict[str, tuple[Limit, ...]] = {
    "POST /requests.{fmt}": (Limit.REPORTS_PER_CLIENT, Limit.REPORTS_PER_API_KEY),
    "POST /report": (Limit.REPORTS_PER_CLIENT,),
    "POST /photos": (Limit.UPLOADS,),
    "POST /cases/{service_request_id}/follow": (Limit.FOLLOWS,),
    "POST /survey/{survey_token}": (Limit.FOLLOWS,),
    "POST /help/{article_id}/answered": (Limit.FOLLOWS,),
    "POST /profile/link": (Limit.FOLLOWS,),  # each sends a text and a mail: a script must not pump SMS
    "POST /profile/link/{link_id}/confirm": (Limit.FOLLOWS,),
}
"""The limits each public POST takes a slot of; every GET of a public router takes `Limit.READS`. The staff
and agent routes (bearer tokens) are not limited."""
UPLOADS = {"POST /photos": 1, "POST /report": MAX_PHOTOS, "POST /requests.{fmt}": 1}
"""Routes whose multipart body may carry photos, and how many: OMNI311_MAX_UPLOAD_BYTES each more than
another body (the portal's form without JavaScript sends its photos with the report; an Open311 POST may
carry one `media` file)."""
PUBLIC = Depends(guard)
"""The dependency every public router is included with: takes the route's slots or answers 429."""


def protect(rt: Runtime, refusals: RefusalLog | None = None) -> Abuse:
    """Install the limits of `rt.settings` on `rt.app`; refusals are counted in `rt.metrics` and written to
    `refusals` (default: `PgRefusals` on the service's pool, flushed every 2 s from start to stop; rows
    older than OMNI311_REFUSALS_RETENTION_DAYS deleted by the first flush and then at most once an hour),
    which the staff route `GET /staff/refusals` (included here) reads (``app.state.refusals``). Raises
    `ValueError` for a limit `limits` cannot parse. Returns the `Abuse` (also ``app.state.abuse``)."""
    s = rt.settings
    rt.app.state.refusals = refusals if refusals is not None else PgRefusals(lambda: rt.db)
    recorder = RefusalRecorder(rt.metrics, store=rt.app.state.refusals, service=SERVICE,
                               retention=timedelta(days=s.refusals_retention_days), clock=lambda: rt.clock())
    rt.on_start.append(recorder.start)
    rt.on_stop.append(recorder.stop)
    abuse = Abuse.from_settings(s, recorder, clock=lambda: rt.clock(), routes=PUBLIC_LIMITS, uploads=UPLOADS,
                                api_keys=s.open311_api_keys)
    install(rt.app, abuse)
    rt.app.include_router(staff.router)
    return abuse
