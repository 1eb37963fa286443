"""`NotifierRepository` on real PostgreSQL, for followers: a follower is kept once per (case, contact key),
followers of a case and of the cases merged into it are found, retention erases their addresses, and a
survey invitation's delivery is claimed once per (case, reporter) whatever closes the case again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.notifier.adapters.repository import NotifierRepository
from services.notifier.domain.messages import recipient_key
from services.notifier.domain.model import Contact, contact_of_follower
from services.notifier.domain.notices import survey_cause
from shared.events import CaseFollowed

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def migrated_package() -> str:
    return "services.notifier"


@pytest.fixture
async def repo(service_pool: asyncpg.Pool) -> AsyncIterator[NotifierRepository]:
    async with service_pool.acquire() as conn:
        yield NotifierRepository(conn)


def reporter(case_id: UUID | None = None, key: str = "ck") -> Contact:
    return Contact(case_id=case_id or uuid4(), service_request_id=f"DEMO-26-{uuid4().int % 10**6:06d}",
                   contact_key=key, channel="email", email=f"{key}@resident.test", language="en")


def follower(case_id: UUID, key: str, channel: str = "email") -> Contact:
    pii = {"email": f"{key}@follower.test"} if channel == "email" else {"phone": "+16135550177"}
    return contact_of_follower(CaseFollowed(case_id=case_id, service_request_id="DEMO-26-000001",
                                            jurisdiction_id="demo", follower_contact_key=key,
                                            notify_channel=channel, language="fr", pii=pii))  # type: ignore[arg-type]


async def test_a_follower_is_kept_once_and_found_with_the_followers_of_merged_cases(repo: NotifierRepository) -> None:
    survivor, joined = reporter(), reporter(key="ck2")
    await repo.add_contact(survivor)
    await repo.add_contact(joined)
    await repo.mark_merged(joined.case_id, survivor.case_id)

    assert await repo.add_follower(follower(survivor.case_id, "fay"), T0) is True
    assert await repo.add_follower(follower(survivor.case_id, "fay"), T0) is False
    assert await repo.add_follower(follower(joined.case_id, "sam", "sms"), T0) is True
    assert await repo.add_follower(follower(uuid4(), "elsewhere"), T0) is True

    found = await repo.followers_of(survivor.case_id)
    assert [(f.contact_key, f.channel, f.email, f.phone, f.follower, f.language) for f in found] == [
        ("fay", "email", "fay@follower.test", None, True, "fr"), ("sam", "sms", None, "+16135550177", True, "fr")]
    assert [f.contact_key for f in await repo.followers_of(joined.case_id)] == ["sam"]


async def test_retention_erases_the_followers_addresses_and_blanks_their_deliveries(repo: NotifierRepository) -> None:
    case = reporter()
    await repo.add_contact(case)
    await repo.add_follower(follower(case.case_id, "fay"), T0)
    other = uuid4()
    await repo.add_follower(follower(other, "fay"), T0)  # the same person following another case
    rkey = recipient_key("email", "fay@follower.test")
    await repo.claim_delivery(case_id=case.case_id, cause_event_id=uuid4(), recipient_key=rkey, kind="followed",
                              channel="email", status="sending", reason=None, at=T0)

    await repo.erase_personal_data(case.case_id, ["fay"], T0)

    assert all(f.email is None for f in await repo.followers_of(case.case_id))
    assert all(f.email is None for f in await repo.followers_of(other))  # erased by contact key everywhere
    assert await repo.conn.fetchval("SELECT count(*) FROM deliveries WHERE recipient_key = $1", rkey) == 0
    assert await repo.conn.fetchval("SELECT count(*) FROM followers WHERE erased_at IS NOT NULL") == 2


async def test_a_survey_invitation_is_claimed_once_per_case_and_reporter(repo: NotifierRepository) -> None:
    case = reporter()
    rkey = recipient_key("email", "ck@resident.test")

    async def claim() -> int | None:
        return await repo.claim_delivery(case_id=case.case_id, cause_event_id=survey_cause(case.case_id),
                                         recipient_key=rkey, kind="survey_invitation", channel="email",
                                         status="sending", reason=None, at=T0)

    assert await claim() is not None
    assert await claim() is None  # closed again, or the event redelivered: never a second invitation
