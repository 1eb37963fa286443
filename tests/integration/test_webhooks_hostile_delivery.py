"""The webhooks service's hostile cases on real PostgreSQL (the fixtures and helpers of
test_webhooks_repository): withdrawing a subscription's personal data rewrites, in the same unit of work, the
messages it kept personal data in, and only that subscription's."""

from __future__ import annotations

from uuid import uuid4

from test_webhooks_repository import CASE, KNOWN, T0, TABLE, Db, db, migrated_package, subscribe  # noqa: F401

from services.webhooks.service_layer import admin
from services.webhooks.service_layer import handlers as h
from shared.events import CaseOpened


async def test_a_withdrawn_grant_rewrites_that_subscriptions_personal_messages_only(db: Db) -> None:
    withdrawn = await subscribe(db, "case.opened", personal_data=True)
    kept = await subscribe(db, "case.opened", personal_data=True)
    await db.handle(CaseOpened(case_id=uuid4(), **CASE, channel="sms", channel_message_id="SM1", contact_key="ck_1",
                               description="call 613-555-0123", requested_datetime=T0,
                               pii={"phone": "+16135550123"}))
    making = h.Making(department_of=lambda *a: None, scrub=lambda t: t.replace("613-555-0123", "[phone]"),
                      pii_paths=h.registry_pii_paths)

    await admin.change(db.uow(), withdrawn, {"personal_data": False}, known=KNOWN,
                       public_body=lambda body: h.public_body(body, making))

    rows = {r["subscription_id"]: r for r in await db.rows("SELECT subscription_id, body, personal_data FROM messages")}
    assert not rows[withdrawn]["personal_data"] and "pii" not in rows[withdrawn]["body"]["data"]
    assert rows[withdrawn]["body"]["data"]["description"] == "call [phone]"
    assert rows[kept]["personal_data"] and rows[kept]["body"]["data"]["pii"]["phone"] == "+16135550123"
    [sub] = [s for s in await admin.read_all(db.uow()) if s.id == withdrawn]
    assert sub.personal_data is False
