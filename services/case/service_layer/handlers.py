"""Case handlers. Each runs in one transaction: inbox claim, state change, timeline, outbox rows.

Consumes `intake.message_received`, `routing.decided`, `dedup.decided`, `notification.recorded`;
produces `case.opened`, `case.message_added`, `case.routed`, `case.merged`, `case.status_changed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4, uuid5, NAMESPACE_URL
from zoneinfo import ZoneInfo

import asyncpg

from services.case.adapters import repository as repo
from services.case.domain.rules import (
    case_number,
    clean_text,
    find_case_number,
    location_added,
    plan_merge,
    transcript_description,
)
from shared.db.inbox import claim
from shared.db.outbox import enqueue
from shared.events import (
    CaseMerged,
    CaseMessageAdded,
    CaseOpened,
    CaseRouted,
    CaseStatusChanged,
    DedupDecided,
    Envelope,
    MessageReceived,
    NotificationOutcome,
    RoutingDecided,
)
from shared.kafka import Delivery
from shared.logs import get_logger

SERVICE = "case"
log = get_logger(__name__)


@dataclass(frozen=True)
class Deps:
    """What handlers need: a pool on the `case` schema, the jurisdiction id and its time zone."""

    pool: asyncpg.Pool
    jurisdiction_id: str
    tz: ZoneInfo


async def _claim(conn: asyncpg.Connection, env: Envelope, d: Delivery) -> bool:
    return await claim(conn, SERVICE, env.event_id, topic=d.topic, partition=d.partition, offset=d.offset)


async def accept_message(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Open a case for a new intake message, or thread it onto the case it answers.

    Idempotent twice over: on the event id (inbox) and on (channel, channel_message_id), so a provider
    retry published as a new event never opens a second case. Returns "opened", "added" or "duplicate".
    """
    msg = env.payload(MessageReceived)
    msg = msg.model_copy(update={"description": clean_text(msg.description)})
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        if await repo.message_case(conn, msg.channel, msg.channel_message_id):
            log.info("intake_duplicate", channel=msg.channel)
            return "duplicate"
        await repo.upsert_reporter(conn, msg.contact_key, msg.channel, msg.pii.model_dump(), now)
        hinted = find_case_number(msg.case_number_hint, deps.jurisdiction_id)
        existing = await repo.case_by_number(conn, hinted) if hinted else None
        # Case numbers are sequential and easy to guess: a number alone threads only the reporter's own
        # case; anyone else quoting it opens a case of their own.
        if existing and not await repo.case_has_reporter(conn, existing, msg.contact_key):
            existing = None
        existing = existing or await repo.case_by_reply(conn, msg.in_reply_to)
        if existing is None:
            # Its reply arrived first and opened a case: join it, but only the same reporter's.
            answered = await repo.case_answering(conn, msg.channel_message_id)
            if answered and await repo.case_has_reporter(conn, answered, msg.contact_key):
                existing = answered
        message_id = uuid5(NAMESPACE_URL, f"omni311:{msg.channel}:{msg.channel_message_id}")
        if existing:
            case = await repo.get_case(conn, existing, for_update=True)
            assert case is not None
            await repo.insert_message(conn, {
                "message_id": message_id, "case_id": existing, "channel": msg.channel,
                "channel_message_id": msg.channel_message_id, "event_id": env.event_id,
                "description": msg.description, "media_url": msg.media_url, "received_at": msg.received_at,
                "in_reply_to": msg.in_reply_to,
            })
            # The answer to the SMS location question, or a call's place, completes a case that had none;
            # a call's transcript becomes the description the voice menu could only guess.
            located = location_added(case, msg.attributes, address=msg.address, zipcode=msg.zipcode,
                                     lat=msg.lat, long=msg.long)
            described = transcript_description(case["description"], msg.attributes, msg.description)
            await repo.update_case(conn, existing, {
                # A call's transcript carries the call's recording again: each URL once, in order.
                "updated_datetime": now, "media_url": list(dict.fromkeys([*case["media_url"], *msg.media_url])),
                **located,
                **({"description": described} if described is not None else {}),
            })
            await repo.add_timeline(conn, existing, now, "message_added", env.event_id,
                                    {"channel": msg.channel, "message_id": str(message_id),
                                     "sender_authenticated": msg.sender_authenticated})
            if located:
                # Which fields changed; the values are on the case itself.
                await repo.add_timeline(conn, existing, now, "located", env.event_id,
                                        {"message_id": str(message_id), "fields": sorted(located),
                                         "source": "call" if msg.attributes.get("transcript_of_call")
                                         else "location_answer"})
            if described is not None:
                await repo.add_timeline(conn, existing, now, "described", env.event_id,
                                        {"message_id": str(message_id), "source": "call_transcript",
                                         "replaced": "ivr_answer" if case["description"] else "nothing"})
            event = CaseMessageAdded(
                case_id=existing, service_request_id=case["service_request_id"],
                jurisdiction_id=deps.jurisdiction_id, message_id=message_id, channel=msg.channel,
                channel_message_id=msg.channel_message_id, description=msg.description,
                media_url=msg.media_url, pii=msg.pii, **located,
            )
            await enqueue(conn, env.caused_by(event, subject=str(existing), producer=SERVICE, now=now),
                          schema=SERVICE)
            return "added"

        # The case id derives from the intake key, so even a replayed event maps to the same case.
        case_id = uuid5(NAMESPACE_URL, f"omni311:case:{msg.channel}:{msg.channel_message_id}")
        requested = msg.requested_datetime or msg.received_at
        number = case_number(deps.jurisdiction_id, requested.astimezone(deps.tz).year,
                             await repo.next_case_number(conn))
        await repo.insert_case(conn, {
            "case_id": case_id, "service_request_id": number, "jurisdiction_id": deps.jurisdiction_id,
            "status": "open", "channel": msg.channel, "contact_key": msg.contact_key,
            "service_code": msg.service_code, "description": msg.description, "address": msg.address,
            "zipcode": msg.zipcode, "lat": msg.lat, "long": msg.long, "media_url": msg.media_url,
            "language": msg.language, "correlation_id": env.correlation_id, "requested_datetime": requested,
            "opened_at": now, "updated_datetime": now,
        })
        await repo.insert_message(conn, {
            "message_id": message_id, "case_id": case_id, "channel": msg.channel,
            "channel_message_id": msg.channel_message_id, "event_id": env.event_id,
            "description": msg.description, "media_url": msg.media_url, "received_at": msg.received_at,
            "in_reply_to": msg.in_reply_to,
        })
        # A failed sender check (e.g. DMARC fail on email) is shown to staff on the timeline, not trusted.
        await repo.add_timeline(conn, case_id, now, "opened", env.event_id,
                                {"channel": msg.channel, "service_request_id": number,
                                 "sender_authenticated": msg.sender_authenticated})
        opened = CaseOpened(
            case_id=case_id, service_request_id=number, jurisdiction_id=deps.jurisdiction_id,
            channel=msg.channel, channel_message_id=msg.channel_message_id, contact_key=msg.contact_key,
            service_code=msg.service_code, description=msg.description, address=msg.address,
            zipcode=msg.zipcode, lat=msg.lat, long=msg.long, media_url=msg.media_url,
            requested_datetime=requested, language=msg.language, pii=msg.pii,
        )
        await enqueue(conn, env.caused_by(opened, subject=str(case_id), producer=SERVICE, now=now), schema=SERVICE)
        return "opened"


async def apply_routing(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Apply the router's decision to the case and announce `case.routed`."""
    decision = env.payload(RoutingDecided)
    r = decision.routing
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        case = await repo.get_case(conn, decision.case_id, for_update=True)
        if case is None:
            raise ValueError(f"routing decision for unknown case {decision.case_id}")
        await repo.update_case(conn, decision.case_id, {
            "service_code": r.service_code, "service_name": r.service_name,
            "agency_responsible": r.agency_responsible, "queue": r.queue, "priority": r.priority,
            "district": r.district, "sla_due_at": r.sla_due_at, "routing": r.model_dump(mode="json"),
            "updated_datetime": now,
        })
        await repo.add_timeline(conn, decision.case_id, now, "routed", env.event_id,
                                {"queue": r.queue, "rule_id": r.rule_id, "config_version": r.config_version})
        routed = CaseRouted(
            case_id=decision.case_id, service_request_id=case["service_request_id"],
            jurisdiction_id=case["jurisdiction_id"], routing=r, description=case["description"],
            lat=case["lat"], long=case["long"], requested_datetime=case["requested_datetime"],
        )
        await enqueue(conn, env.caused_by(routed, subject=str(decision.case_id), producer=SERVICE, now=now),
                      schema=SERVICE)
        return "routed"


async def apply_dedup(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Merge a case into the one the duplicate detector matched, if both are still open.

    The survivor is followed along earlier merges; a skipped merge is written on the timeline with why.
    """
    decision = env.payload(DedupDecided)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        # Lock in a stable order so that two crossing decisions cannot deadlock.
        for cid in sorted([decision.case_id, decision.duplicate_of]):
            await repo.case_state(conn, cid)
        candidate = await repo.case_state(conn, decision.case_id)
        if candidate is None:
            raise ValueError(f"dedup decision for unknown case {decision.case_id}")
        plan = plan_merge(candidate, await repo.merge_chain(conn, decision.duplicate_of))
        if plan.skip_reason or plan.survivor is None or plan.duplicate is None:
            await repo.add_timeline(conn, decision.case_id, now, "merge_skipped", env.event_id,
                                    {"reason": plan.skip_reason, "duplicate_of": str(decision.duplicate_of)})
            return "skipped"
        survivor = await repo.get_case(conn, plan.survivor)
        dup = await repo.get_case(conn, plan.duplicate)
        assert survivor is not None and dup is not None
        notes = f"Duplicate of {survivor['service_request_id']}"
        await repo.update_case(conn, plan.duplicate, {
            "status": "closed", "status_notes": notes, "merged_into": plan.survivor, "updated_datetime": now,
        })
        evidence = {"score": decision.score, "distance_m": decision.distance_m,
                    "text_similarity": decision.text_similarity}
        await repo.add_timeline(conn, plan.duplicate, now, "merged", env.event_id,
                                {"merged_into": survivor["service_request_id"], **evidence})
        await repo.add_timeline(conn, plan.survivor, now, "absorbed", env.event_id,
                                {"duplicate": dup["service_request_id"], **evidence})
        merged = CaseMerged(
            case_id=plan.duplicate, service_request_id=dup["service_request_id"],
            jurisdiction_id=dup["jurisdiction_id"], merged_into=plan.survivor,
            merged_into_service_request_id=survivor["service_request_id"], status_notes=notes,
        )
        await enqueue(conn, env.caused_by(merged, subject=str(plan.duplicate), producer=SERVICE, now=now),
                      schema=SERVICE)
        return "merged"


async def record_notification(env: Envelope, d: Delivery, deps: Deps, now: datetime) -> str:
    """Write a notifier outcome on the case timeline; remember our outbound message id for threading."""
    outcome = env.payload(NotificationOutcome)
    async with deps.pool.acquire() as conn, conn.transaction():
        if not await _claim(conn, env, d):
            return "duplicate"
        if await repo.get_case(conn, outcome.case_id) is None:
            raise ValueError(f"notification outcome for unknown case {outcome.case_id}")
        await repo.add_timeline(conn, outcome.case_id, now, f"notification_{outcome.outcome}", env.event_id, {
            "kind": outcome.kind, "channel": outcome.channel, "reason": outcome.reason,
            "recipient_key": outcome.recipient_key,
        })
        if outcome.provider_message_id:
            await repo.record_outbound(conn, outcome.provider_message_id, outcome.case_id)
        return "recorded"


async def change_status(deps: Deps, case_id: UUID, status: str, status_notes: str | None, actor: str,
                        now: datetime) -> dict | None:
    """Staff change a case's Open311 status; returns the updated case, or None when it does not exist."""
    async with deps.pool.acquire() as conn, conn.transaction():
        case = await repo.get_case(conn, case_id, for_update=True)
        if case is None:
            return None
        if case["status"] == status and case["status_notes"] == status_notes:
            return case
        await repo.update_case(conn, case_id, {"status": status, "status_notes": status_notes,
                                               "updated_datetime": now})
        await repo.add_timeline(conn, case_id, now, "status_changed", None,
                                {"status": status, "status_notes": status_notes, "actor": actor})
        changed = CaseStatusChanged(case_id=case_id, service_request_id=case["service_request_id"],
                                    jurisdiction_id=case["jurisdiction_id"], status=status,
                                    status_notes=status_notes)
        env = Envelope.new_flow(changed, subject=str(case_id), producer=SERVICE, now=now, event_id=uuid4())
        # A staff action starts no intake flow; keep the case's own correlation id for tracing.
        env = env.model_copy(update={"correlation_id": case["correlation_id"]})
        await enqueue(conn, env, schema=SERVICE)
        return await repo.get_case(conn, case_id)
