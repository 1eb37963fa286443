"""End to end on real Kafka, PostgreSQL, mail (GreenMail) and a fake Twilio: residents follow a case and
the reporter answers the satisfaction survey. A report arrives; two people follow it (one by email, one by
SMS, as the portal publishes `intake.follow_requested`); staff resolve it; the followers hear the
confirmation and the closure, the reporter gets exactly one survey invitation whose link's token reads back;
the reporter's answer (`intake.survey_answered`) becomes `case.survey_answered` and a timeline entry, an
answer from someone who is not a reporter becomes nothing. The case and notifier services only, on one
stack of their own (the fake Twilio must exist before the notifier starts)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.auth import Role
from shared.surveys import read_survey_token, survey_contact_key, survey_jti
from support.fakes import FakeTwilioApi
from support.infra import check_infra
from support.mail import inbox, text_of
from support.pipeline import Kafka, envelope, intake_message, now_iso, outbox_events, rows, to_bytes
from support.stack import Stack
from support.wait import eventually

SECRET = "e2e-survey-secret-long-enough-for-hs256"
PORTAL = "https://portal.e2e.example"
CITY_NUMBER = "+16135550311"
SETTLE_S = 3.0  # after the last observable effect, how long something unwanted gets to show up


@pytest.fixture(scope="module")
async def follow_stack(twilio: FakeTwilioApi, test_issuer: Any) -> AsyncIterator[Stack]:
    await check_infra()
    stack = Stack(jurisdiction="demo", services=("case", "notifier"), extra_env={
        "OMNI311_TWILIO_ACCOUNT_SID": "AC" + "2" * 32, "OMNI311_TWILIO_AUTH_TOKEN": "e2e-follow-token",
        "OMNI311_TWILIO_FROM_NUMBER": CITY_NUMBER, "OMNI311_TWILIO_API_BASE_URL": twilio.url,
        "OMNI311_SURVEY_SECRET": SECRET, "OMNI311_PORTAL_BASE_URL": PORTAL, **test_issuer.env()})
    await stack.up()
    try:
        yield stack
    finally:
        await stack.down()


async def _mail(address: str, count: int, what: str) -> list[Any]:
    async def enough() -> list[Any] | None:
        box = await inbox(address)
        return box if len(box) >= count else None
    return await eventually(enough, timeout=30, what=what)


async def _publish(kafka: Kafka, event_type: str, data: dict[str, Any]) -> None:
    env = envelope(event_type, data, subject=data["contact_key"], producer="intake_web")
    await kafka.send("intake.messages", to_bytes(env), key=data["contact_key"])


def _link(message: Any) -> str:
    return next(w for w in text_of(message).split() if w.startswith(PORTAL + "/survey/"))


async def test_followers_hear_the_closure_and_the_reporter_answers_the_survey_once(
        follow_stack: Stack, twilio: FakeTwilioApi, test_issuer: Any) -> None:
    tag = uuid.uuid4().hex[:8]
    ann, fay = f"ann-{tag}@resident.test", f"fay-{tag}@follower.test"
    sam_phone = f"+1613555{uuid.uuid4().int % 10**4:04d}"
    stack = follow_stack
    async with Kafka(stack.topic_prefix) as kafka, \
            httpx.AsyncClient(base_url=stack.url("case"), timeout=15,
                              headers=test_issuer.headers(Role.ADMINISTRATOR)) as case_api:
        report = intake_message(token=f"tok-{tag}", contact_key=f"ck-ann-{tag}", email=ann, service_code="pothole",
                                lat=45.42, long=-75.69, description="Deep pothole in front of 12 Elm Street")
        await kafka.send("intake.messages", to_bytes(envelope("intake.message_received", report,
                                                              subject=report["contact_key"])),
                         key=report["contact_key"])
        [ack] = await _mail(ann, 1, "the reporter's acknowledgement")
        sid = ack["X-Omni311-Case"]

        for key, channel, pii, lang in ((f"ck-fay-{tag}", "email", {"email": fay}, "en"),
                                        (f"ck-sam-{tag}", "sms", {"phone": sam_phone}, "fr")):
            await _publish(kafka, "intake.follow_requested", {
                "channel": "web", "channel_message_id": f"follow-{key}", "contact_key": key,
                "received_at": now_iso(), "service_request_id": sid, "notify_channel": channel, "language": lang,
                "pii": pii})
        [confirmation] = await _mail(fay, 1, "the email follower's confirmation")
        assert sid in confirmation["Subject"] and f"You now follow case {sid}" in text_of(confirmation)
        [sms] = await eventually(lambda: [m for m in twilio.messages() if m.get("To") == sam_phone] or None,
                                 timeout=30, what="the SMS follower's confirmation")
        assert sid in sms["Body"] and "STOP" in sms["Body"] and sms["From"] == CITY_NUMBER

        for to, note in (("in_progress", None), ("resolved", "Filled with asphalt")):
            r = await case_api.post(f"/staff/cases/{sid}/transition", json={"to": to, "note": note})
            assert r.status_code == 200, r.text
        fay_box = await _mail(fay, 2, "the closure in the email follower's mailbox")
        assert "A case you follow is closed" in fay_box[-1]["Subject"] and "Filled with asphalt" in text_of(fay_box[-1])
        await eventually(lambda: len([m for m in twilio.messages() if m.get("To") == sam_phone]) >= 2 or None,
                         timeout=30, what="the closure by SMS")
        ann_box = await _mail(ann, 3, "the reporter's closure and survey invitation")
        [invitation] = [m for m in ann_box if "How did we do?" in m["Subject"]]
        token = _link(invitation).rsplit("/", 1)[1]
        survey = read_survey_token(SECRET, token, now=datetime.now(UTC))
        assert (survey.service_request_id, survey.jti) == (sid, survey_jti(sid, report["contact_key"]))
        assert len(token) < 100 and report["contact_key"] not in token  # short, and no contact data

        await _publish(kafka, "intake.survey_answered", {
            "channel": "web", "channel_message_id": f"jti-stranger-{tag}", "contact_key": f"ck-fay-{tag}",
            "received_at": now_iso(), "service_request_id": sid, "rating": 1, "comment": "not mine"})
        # as the portal publishes it: keyed by the invitation, the reporter found by the case service
        await _publish(kafka, "intake.survey_answered", {
            "channel": "web", "channel_message_id": survey.jti, "contact_key": survey_contact_key(survey.jti),
            "received_at": now_iso(), "service_request_id": sid, "rating": 4, "comment": "Fixed in two days",
            "language": survey.language})

        async def answered() -> list[dict[str, Any]] | None:
            events = [e for e in await outbox_events(stack, "case") if e["event_type"] == "case.survey_answered"]
            return events or None
        [event_] = await eventually(answered, timeout=30, what="case.survey_answered")
        assert event_["data"]["rating"] == 4 and event_["data"]["contact_key"] == report["contact_key"]
        history = (await case_api.get(f"/cases/requests/{sid}/history", headers={"Authorization": ""})).json()
        assert history["followers"] == 2 and history["workflow_status"] == "resolved"
        assert {"kind": "survey_answered", "rating": 4} in [{k: e[k] for k in ("kind", "rating") if k in e}
                                                          for e in history["entries"]]

    async def stranger_kept() -> bool:
        kept = await rows(stack, "case", "SELECT outcome FROM survey_answers WHERE channel_message_id = $1",
                          f"jti-stranger-{tag}")
        return kept == [{"outcome": "refused"}]
    await eventually(stranger_kept, timeout=20, what="the stranger's answer kept refused")
    entries = await rows(stack, "case", "SELECT t.detail->>'text' AS text FROM timeline t JOIN cases c "
                                        "USING (case_id) WHERE c.service_request_id = $1 "
                                        "AND t.kind = 'survey_answered'", sid)
    assert [e["text"] for e in entries] == ["Survey: 4/5 — Fixed in two days"]

    await asyncio.sleep(SETTLE_S)
    assert len([m for m in await inbox(ann) if "How did we do?" in m["Subject"]]) == 1
    assert not [m for m in await inbox(fay) if "How did we do?" in m["Subject"]], "followers are not surveyed"
    assert len([m for m in twilio.messages() if m.get("To") == sam_phone]) == 2
    assert len([e for e in await outbox_events(stack, "case") if e["event_type"] == "case.survey_answered"]) == 1
