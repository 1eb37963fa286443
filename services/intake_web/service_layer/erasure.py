"""Erase the photos of a case's reports when the case service's retention job says so.

Consumes `case.personal_data_erased` on `cases.lifecycle` (group `intake_web`); produces nothing. Its
`channel_message_ids` are the reports' tokens (a portal report's ``web-<uuid>``, an Open311 POST's
token; other channels' ids match nothing here): every photo those reports used (`intake_web.photo_uses`)
is deleted and an audit row kept with the count, all in the event's unit of work (inbox claim included),
so a redelivered event erases nothing twice. `mode` pseudonymise is handled as erase: a photo cannot be
pseudonymised, only dropped.
"""

from __future__ import annotations

from services.intake_web.adapters.erasure import PhotoErasureRepository
from shared.events import CasePersonalDataErased
from shared.service_layer import Handlers, UnitOfWork


async def on_personal_data_erased(event: CasePersonalDataErased, uow: UnitOfWork[PhotoErasureRepository]) -> str:
    """Delete the photos of `event.channel_message_ids` and record the erasure; returns a short outcome
    for the log (a count only). Raises only database errors (the event is then retried)."""
    if uow.envelope is None:
        raise RuntimeError("on_personal_data_erased runs in the unit of work of a consumed event")
    photos = await uow.repo.erase_photos(list(event.channel_message_ids))
    await uow.repo.record_erasure(event_id=uow.envelope.event_id, case_id=event.case_id,
                                  service_request_id=event.service_request_id, photos=photos, now=uow.now)
    return f"erased {photos} photos of {event.service_request_id}"


def handlers() -> Handlers:
    """What intake_web consumes: the one event type on `cases.lifecycle` it acts on (the others are
    committed untouched)."""
    return {CasePersonalDataErased.event_type: (CasePersonalDataErased, on_personal_data_erased)}
