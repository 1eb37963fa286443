"""intake_sms_voice's opt-out store against real PostgreSQL (migration 001, `PgOptOuts`): a number is
opted in until it opts out; STOP and START flip it; a change older than the one kept (a retry, a late
21610 status callback) never undoes a newer one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.intake_sms_voice.adapters.opt_outs import PgOptOuts
from shared.db.migrate import migrate
from shared.db.pool import create_pool

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database: str, fresh_schema_name: str):  # noqa: ANN201
    await migrate(database, fresh_schema_name, "services.intake_sms_voice")
    p = await create_pool(database, fresh_schema_name, application_name="it-intake-sms-voice", max_size=2)
    yield p
    await p.close()


async def test_stop_and_start_flip_a_number_and_a_late_change_never_undoes_a_newer_one(pool: asyncpg.Pool) -> None:
    store = PgOptOuts(lambda: pool)
    assert await store.opted_out("ck_ana") is False
    await store.record("ck_ana", opted_out=True, at=T0)
    assert await store.opted_out("ck_ana") is True and await store.opted_out("ck_bo") is False
    await store.record("ck_ana", opted_out=False, at=T0 + timedelta(minutes=5))
    assert await store.opted_out("ck_ana") is False
    await store.record("ck_ana", opted_out=True, at=T0 + timedelta(minutes=1))  # a late 21610 callback
    assert await store.opted_out("ck_ana") is False
    await store.record("ck_ana", opted_out=True, at=T0 + timedelta(minutes=5))  # a retry of the same instant
    assert await store.opted_out("ck_ana") is True
    rows = await pool.fetch("SELECT contact_key, opted_out, changed_at FROM opt_outs")
    assert [tuple(r) for r in rows] == [("ck_ana", True, T0 + timedelta(minutes=5))]
