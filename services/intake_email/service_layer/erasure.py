"""Erase intake_email's copy of a case's personal data when the case service's retention job says so.

Consumes `case.personal_data_erased` on `cases.lifecycle` (group `intake_email`); produces nothing. For the
case's `channel_message_ids` (email Message-IDs; other channels' ids match nothing here) it empties the
stored raw messages (the sender's address, the text, the attachments), deletes the media cut from them and
empties the payloads of the events already published for them (the outbox copy holds the address), then
keeps an audit row with the counts, all in the event's unit of work (inbox claim included), so a
redelivered event erases nothing twice. `mode` pseudonymise is handled as erase: a raw message or a photo
cannot be pseudonymised, only dropped. Bounces of the city's own notices are not matched (their
Message-IDs are not the case's), nor are messages of the case's reporters that never became part of it.
"""

from __future__ import annotations

from services.intake_email.adapters.repository import MailRepository
from shared.events import CasePersonalDataErased
from shared.service_layer import Handlers, UnitOfWork


async def on_personal_data_erased(event: CasePersonalDataErased, uow: UnitOfWork[MailRepository]) -> str:
    """Erase the stored messages and media of `event.channel_message_ids` and record the erasure; returns
    a short outcome for the log (counts only). Raises only database errors (the event is then retried)."""
    if uow.envelope is None:
        raise RuntimeError("on_personal_data_erased runs in the unit of work of a consumed event")
    erased = await uow.repo.erase_messages(list(event.channel_message_ids), uow.now)
    await uow.repo.record_erasure(event_id=uow.envelope.event_id, case_id=event.case_id,
                                  service_request_id=event.service_request_id, mode=event.mode, erased=erased,
                                  now=uow.now)
    return f"erased {erased.messages} messages, {erased.media} media of {event.service_request_id}"


def handlers() -> Handlers:
    """What intake_email consumes: the one event type on `cases.lifecycle` it acts on (the others are
    committed untouched)."""
    return {CasePersonalDataErased.event_type: (CasePersonalDataErased, on_personal_data_erased)}
