"""Webhooks handlers: every `cases.lifecycle` event updates the case's facts and makes one message per
matching subscription, in the event's unit of work (inbox claim, facts, messages: one transaction).

Consumes every event of `cases.lifecycle` (the registry lists `webhooks` as consumer of each); produces
nothing on Kafka (the messages are sent over HTTP by the delivery loop, `service_layer/delivery.py`).
`case.personal_data_erased` also removes the personal data kept in the case's earlier messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from services.webhooks.adapters.repository import WebhooksRepository
from services.webhooks.domain import case_facts_after, matches, message_body, scrub_data, webhook_id
from services.webhooks.domain.model import DepartmentOf, Scrub
from services.webhooks.domain.records import NewMessage
from shared.events import (
    CaseAssigned,
    CaseEscalated,
    CaseFollowed,
    CaseMerged,
    CaseMessageAdded,
    CaseMessageWithdrawn,
    CaseOpened,
    CasePersonalDataErased,
    CasePrioritySet,
    CasePublicUpdate,
    CaseRecategorised,
    CaseReplyRequested,
    CaseRouted,
    CaseSlaBreached,
    CaseSlaWarning,
    CaseStatusChanged,
    CaseSurveyAnswered,
    CaseUnmerged,
    registry,
)
from shared.events.envelope import EventData
from shared.service_layer import Handlers, UnitOfWork

Uow = UnitOfWork[WebhooksRepository]


@dataclass(frozen=True)
class Making:
    """What making messages needs: `department_of` (the jurisdiction's departments), `scrub` (emails and
    phone numbers out of free text), `pii_paths(event_type, schema_version)` (the registry's personal-data
    paths) and `wake()` (tells the delivery loop that messages wait; called after the commit)."""

    department_of: DepartmentOf
    scrub: Scrub
    pii_paths: Callable[[str, int], tuple[str, ...]]
    wake: Callable[[], None] = lambda: None


def registry_pii_paths(event_type: str, schema_version: int) -> tuple[str, ...]:
    """The registry's personal-data paths of an event version (none for an unknown one)."""
    try:
        return registry().spec(event_type, schema_version).pii
    except KeyError:
        return ()


async def on_case_event(payload: EventData, uow: Uow, *, making: Making) -> str:
    """Apply the event to the case's facts, then queue one message per subscription it matches (a paused
    one included: its messages wait for the resume). A subscription without personal data gets the payload
    scrubbed (`scrub_data`). Returns "queued:<n>" or "unsubscribed" (nobody asked for it)."""
    env = uow.envelope
    assert env is not None, "a case event is handled in its own unit of work"
    data: dict[str, Any] = payload.model_dump(mode="json")
    case_id = getattr(payload, "case_id")
    before = await uow.repo.case_facts(case_id)
    facts = case_facts_after(env.event_type, data, before, making.department_of)
    if facts != before:
        await uow.repo.save_case_facts(case_id, facts, uow.now)
    if env.event_type == CasePersonalDataErased.event_type:
        await _forget_personal_data(uow, case_id, making)
    public: dict[str, Any] | None = None
    messages = []
    for sub in await uow.repo.live_subscriptions():
        if not matches(sub.view(), env.event_type, facts):
            continue
        if not sub.personal_data and public is None:
            public = scrub_data(data, making.pii_paths(env.event_type, env.schema_version), making.scrub)
        body = message_body(event_type=env.event_type, occurred_at=env.occurred_at,
                            data=data if sub.personal_data else public or {}, event_id=env.event_id,
                            schema_version=env.schema_version, subject=env.subject)
        messages.append(NewMessage(subscription_id=sub.id, event_id=env.event_id, event_type=env.event_type,
                                   case_id=case_id, occurred_at=env.occurred_at,
                                   webhook_id=webhook_id(env.event_id, sub.id), body=body,
                                   personal_data=sub.personal_data))
    if not messages:
        return "unsubscribed"
    made = await uow.repo.add_messages(messages, uow.now)
    if made:
        uow.after_commit(partial(_wake, making.wake))
    return f"queued:{made}"


async def _wake(wake: Callable[[], None]) -> None:
    wake()


async def _forget_personal_data(uow: Uow, case_id: Any, making: Making) -> None:
    """The case's personal data was erased: its messages that kept it keep the scrubbed payload instead."""
    for message_id, body in await uow.repo.personal_messages(case_id):
        await uow.repo.replace_body(message_id, public_body(body, making))


def public_body(body: dict[str, Any], making: Making) -> dict[str, Any]:
    """A message body (`domain.message_body`) whose `data` is scrubbed of personal data (`scrub_data`, with
    the registry's paths of its event type and version)."""
    paths = making.pii_paths(body.get("type", ""), int(body.get("schema_version", 1)))
    return {**body, "data": scrub_data(body.get("data") or {}, paths, making.scrub)}


def handlers(making: Making) -> Handlers:
    """What the webhooks service consumes: every `cases.lifecycle` event, each with the same handler."""
    handle = partial(on_case_event, making=making)
    return {
        CaseOpened.event_type: (CaseOpened, handle),
        CaseMessageAdded.event_type: (CaseMessageAdded, handle),
        CaseMessageWithdrawn.event_type: (CaseMessageWithdrawn, handle),
        CaseRouted.event_type: (CaseRouted, handle),
        CaseMerged.event_type: (CaseMerged, handle),
        CaseStatusChanged.event_type: (CaseStatusChanged, handle),
        CaseAssigned.event_type: (CaseAssigned, handle),
        CasePrioritySet.event_type: (CasePrioritySet, handle),
        CaseRecategorised.event_type: (CaseRecategorised, handle),
        CasePublicUpdate.event_type: (CasePublicUpdate, handle),
        CaseReplyRequested.event_type: (CaseReplyRequested, handle),
        CaseUnmerged.event_type: (CaseUnmerged, handle),
        CaseSlaWarning.event_type: (CaseSlaWarning, handle),
        CaseSlaBreached.event_type: (CaseSlaBreached, handle),
        CaseEscalated.event_type: (CaseEscalated, handle),
        CasePersonalDataErased.event_type: (CasePersonalDataErased, handle),
        CaseFollowed.event_type: (CaseFollowed, handle),
        CaseSurveyAnswered.event_type: (CaseSurveyAnswered, handle),
    }
