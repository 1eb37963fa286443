"""Erase intake_sms_voice's copy of a case's personal data when the case service's retention job says so.

Consumes `case.personal_data_erased` on `cases.lifecycle` (group `intake_sms_voice`); produces nothing.
Texts and calls are published as they arrive and not stored; what intake_sms_voice keeps of a case is the
media its messages carried (MMS and WhatsApp photos, videos, voice notes; a call's recording, kept under
its CallSid and its RecordingSid), deleted for the event's `channel_message_ids` (other channels' ids match
nothing here), so `GET /media/{id}` answers 404 from then on. The `opt_outs` rows of the case's
`contact_keys` are kept: they hold a hash of the number, never the number, and forgetting a STOP would text
a resident who asked us not to (carrier rules). One audit row is recorded in the event's unit of work with
its inbox claim, so a redelivered event erases nothing twice. `pseudonymise` is handled as erase: a photo or
a recording cannot be pseudonymised, only dropped.
"""

from __future__ import annotations

from shared.events import CasePersonalDataErased
from shared.media.erasure import MediaErasureRepository
from shared.service_layer import Handlers, UnitOfWork


async def on_personal_data_erased(event: CasePersonalDataErased, uow: UnitOfWork[MediaErasureRepository]) -> str:
    """Delete the media of `event.channel_message_ids` and record the erasure; returns a short outcome for
    the log (a count only). Raises only database errors (the event is then retried)."""
    if uow.envelope is None:
        raise RuntimeError("on_personal_data_erased runs in the unit of work of a consumed event")
    files = await uow.repo.erase_media(list(event.channel_message_ids))
    await uow.repo.record_erasure(event_id=uow.envelope.event_id, case_id=event.case_id,
                                  service_request_id=event.service_request_id, mode=event.mode, events=files,
                                  now=uow.now)
    return f"erased {files} media files of {event.service_request_id}"


def handlers() -> Handlers:
    """What intake_sms_voice consumes: the one event type on `cases.lifecycle` it acts on (the others are
    committed untouched)."""
    return {CasePersonalDataErased.event_type: (CasePersonalDataErased, on_personal_data_erased)}
