"""The retention job of the case service: erase or pseudonymise the personal data of cases closed for the
jurisdiction's `retention.closed_days` or more, keeping the public record.

Produces `case.personal_data_erased` (one per case, through the outbox) so that the notifier,
intake_email and intake_social erase their own copies. Runs from the case service's background loop
(`timers.SlaTimer`), each batch in one unit of work; a case is erased once (table `erasures`), and two
processes never take the same case (`FOR UPDATE SKIP LOCKED`). Contract: docs/staff-work.md, "Retention".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from services.case.adapters.repository import CaseRepository
from services.case.domain import retention as rules
from shared.events import CasePersonalDataErased
from shared.jurisdiction import Jurisdiction
from shared.logs import get_logger
from shared.service_layer import UnitOfWork

log = get_logger(__name__)

Uow = UnitOfWork[CaseRepository]


def policy(jurisdiction: Jurisdiction) -> tuple[int, rules.Mode]:
    """The jurisdiction's retention: (days closed, ``erase`` or ``pseudonymise``)."""
    return int(jurisdiction.retention.closed_days), jurisdiction.retention.mode


def warn_without_key(jurisdiction: Jurisdiction, key: str) -> bool:
    """Log a warning (and return True) when the jurisdiction pseudonymises without a secret pseudonym key:
    its pseudonyms of phone numbers could then be recomputed (`domain.retention.pseudonym`)."""
    if jurisdiction.retention.mode != "pseudonymise" or key:
        return False
    log.warning("retention_pseudonym_key_missing", jurisdiction_id=jurisdiction.id,
                hint="set OMNI311_RETENTION_PSEUDONYM_KEY")
    return True


def phone_region(jurisdiction: Jurisdiction) -> str:
    """The region phone numbers without ``+`` are read in (`Jurisdiction.phone_region`)."""
    return jurisdiction.phone_region


class ErasureFailed(Exception):  # noqa: N818 - says what happened to which case
    """Erasing the case `case_id` raised (the cause is chained); the batch's transaction rolls back."""

    def __init__(self, case_id: UUID) -> None:
        super().__init__(f"erasing the personal data of case {case_id} failed")
        self.case_id = case_id


async def erase_due(uow: Uow, *, jurisdiction: Jurisdiction, limit: int = 20, skip: Sequence[UUID] = (),
                    key: str = "") -> int:
    """Erase the personal data of up to `limit` cases past retention at `uow.now` (see `erase_case`; the
    cases in `skip` left out), in the caller's unit of work; returns how many (a caller asks again while
    it equals `limit`). `key` is the secret of the pseudonyms (`domain.retention.pseudonym`). Raises
    `ErasureFailed` naming the case whose erasure raised."""
    days, mode = policy(jurisdiction)
    cases = await uow.repo.cases_past_retention(rules.cutoff(uow.now, days), limit, skip)
    for case in cases:
        try:
            await erase_case(uow, case, days=days, mode=mode, region=phone_region(jurisdiction),
                             salt=jurisdiction.id, key=key)
        except Exception as exc:
            raise ErasureFailed(case["case_id"]) from exc
    return len(cases)


async def erase_case(uow: Uow, case: dict[str, Any], *, days: int, mode: rules.Mode, region: str,
                     salt: str, key: str = "") -> bool:
    """Erase (or pseudonymise, `mode`) one closed case's personal data: the phone numbers and email
    addresses in its description, status notes, messages, survey comments and timeline details
    (`rules.redact`), every media URL (photos may show people), and the `pii` of its reporter and of its
    followers when they have no case still within retention (reported or followed); write `personal_data_erased` on its timeline (actor ``system``) and emit
    `case.personal_data_erased` with the reporters' contact keys and the messages' channel ids. Category,
    place, times and status stay. `case` is a row of `cases_past_retention` (locked). Returns True; raises
    `RuntimeError` (the unit of work rolls back) when the case turns out to be erased already."""
    now, case_id = uow.now, case["case_id"]
    cut = rules.cutoff(now, days)
    replaced = 0
    messages = await uow.repo.case_messages_for_erasure(case_id)
    for m in messages:
        text, n = rules.redact(m["description"] or "", mode=mode, region=region, salt=salt, key=key)
        replaced += n
        await uow.repo.erase_message(m["message_id"], text)
    description, n1 = rules.redact(case["description"] or "", mode=mode, region=region, salt=salt, key=key)
    notes, n2 = (rules.redact(case["status_notes"], mode=mode, region=region, salt=salt, key=key)
                 if case["status_notes"] else (case["status_notes"], 0))
    replaced += n1 + n2
    await uow.repo.erase_case_text(case_id, description, notes)
    await uow.repo.forget_published_events(case_id)
    for entry in await uow.repo.timeline_for_erasure(case_id):
        detail, n = rules.redact_tree(entry["detail"], mode=mode, region=region, salt=salt, key=key)
        if n:
            replaced += n
            await uow.repo.set_timeline_detail(entry["id"], detail)
    for channel_message_id, comment in await uow.repo.survey_comments(case_id):
        text, n = rules.redact(comment, mode=mode, region=region, salt=salt, key=key)
        if n:
            replaced += n
            await uow.repo.set_survey_comment(channel_message_id, text)
    # Followers' addresses are kept as reporters' are, and go by the same rule.
    people = sorted({case["contact_key"], *await uow.repo.followers_of(case_id)})
    contact_keys = await uow.repo.reporters_past_retention(cut, people)
    for contact_key in contact_keys:
        pii = await uow.repo.reporter_pii(contact_key) or {}
        await uow.repo.set_reporter_pii(contact_key, rules.reporter_pii(pii, contact_key=contact_key, mode=mode,
                                                                        key=key))
    channel_message_ids = [m["channel_message_id"] for m in messages]
    recorded = await uow.repo.record_erasure({
        "case_id": case_id, "erased_at": now, "closed_at": case["closed_at"], "policy_days": days, "mode": mode,
        "contact_keys": contact_keys, "channel_message_ids": channel_message_ids})
    if not recorded:
        raise RuntimeError(f"case {case_id} was erased by another transaction meanwhile")
    await uow.repo.add_timeline(case_id, now, "personal_data_erased", None, {
        "actor": "system", "actor_name": "retention job", "role": "system", "mode": mode, "policy_days": days,
        "closed_at": case["closed_at"].isoformat(), "reporters": len(contact_keys), "messages": len(messages),
        "replaced": replaced})
    await uow.emit(CasePersonalDataErased(
        case_id=case_id, service_request_id=case["service_request_id"], jurisdiction_id=case["jurisdiction_id"],
        contact_keys=contact_keys, channel_message_ids=channel_message_ids, closed_at=case["closed_at"],
        policy_days=days, mode=mode), subject=case_id, correlation_id=case["correlation_id"])
    log.info("personal_data_erased", case_id=str(case_id), mode=mode, messages=len(messages))
    return True
