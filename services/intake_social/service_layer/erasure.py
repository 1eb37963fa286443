"""Erase intake_social's copy of a case's personal data when the case service's retention job says so.

Consumes `case.personal_data_erased` on `cases.lifecycle` (group `intake_social`); produces nothing.
Meta webhook messages (Messenger, Instagram, WhatsApp Cloud) are published as they arrive and not stored;
what intake_social keeps of a case is: the published outbox rows of Mastodon mentions (handle and text:
payloads emptied for the case's `channel_message_ids`), the raw items of unsupported messages (emptied
when they are among those ids, or were sent by one of the case's `contact_keys` before it closed), and the
conversations whose report is one of those ids (deleted), and the media files those messages carried
(deleted). One audit row is recorded, in the event's unit
of work with its inbox claim, so a redelivered event does nothing twice. `pseudonymise` is handled as erase.
"""

from __future__ import annotations

from services.intake_social.adapters.erasure import ErasureRepository
from shared.events import CasePersonalDataErased
from shared.service_layer import Handlers, UnitOfWork


async def on_personal_data_erased(event: CasePersonalDataErased, uow: UnitOfWork[ErasureRepository]) -> str:
    """Empty the published payloads of the case's messages and record the erasure; returns a short outcome
    for the log (a count only). Raises only database errors (the event is then retried)."""
    if uow.envelope is None:
        raise RuntimeError("on_personal_data_erased runs in the unit of work of a consumed event")
    ids = list(event.channel_message_ids)
    events = await uow.repo.erase_published_payloads(ids)
    raw = await uow.repo.erase_unsupported(ids, list(event.contact_keys), event.closed_at, uow.now)
    threads = await uow.repo.forget_conversations(ids)
    files = await uow.repo.erase_media(ids)
    await uow.repo.record_erasure(event_id=uow.envelope.event_id, case_id=event.case_id,
                                  service_request_id=event.service_request_id, mode=event.mode,
                                  events=events + raw + threads + files, now=uow.now)
    return (f"erased {events} published payloads, {raw} unsupported items, {threads} conversations and "
            f"{files} media files of {event.service_request_id}")


def handlers() -> Handlers:
    """What intake_social consumes: the one event type on `cases.lifecycle` it acts on (the others are
    committed untouched)."""
    return {CasePersonalDataErased.event_type: (CasePersonalDataErased, on_personal_data_erased)}
