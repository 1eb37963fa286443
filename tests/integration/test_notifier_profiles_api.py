"""The notifier's profile API in-process (httpx over ASGI) on real PostgreSQL, texting through the local
fake of Twilio's REST API (the real twilio client) and mailing through the test mail server (read back
over IMAP): a resident links an email address and a phone number with the two codes sent there; a wrong
code counts a try and the last try ends the request; codes expire; a fourth request within the hour is
refused; linking contacts that have profiles joins the profiles; staff link, change and unlink, each
with its role; and an acknowledgement then goes on the profile's preferred channel, in its language
(docs/integrations.md section 3)."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.notifier.adapters.mail import SmtpSender
from services.notifier.adapters.repository import NotifierRepository
from services.notifier.adapters.senders import TwilioSender
from services.notifier.config import ChannelSettings
from services.notifier.domain.messages import recipient_key
from services.notifier.entrypoints import http
from services.notifier.service_layer import handlers
from services.notifier.service_layer.profiles import Linking
from shared.auth import install_auth
from shared.contacts import contact_key
from shared.db.unit_of_work import PgUnitOfWork
from shared.events import CaseOpened, Envelope
from shared.service_layer import dispatch
from support.auth import TestIssuer
from support.fakes import FakeTwilioApi
from support.infra import SMTP
from support.mail import inbox, text_of
from support.wait import eventually

ACCOUNT = "AC" + "7" * 32
CITY_NUMBER = "+16135550311"
SECRET = "integration-profile-code-secret-of-32-bytes"


@pytest.fixture
def migrated_package() -> str:
    return "services.notifier"


@pytest.fixture(scope="module")
def twilio() -> Iterator[FakeTwilioApi]:
    fake = FakeTwilioApi().start()
    try:
        yield fake
    finally:
        fake.stop()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def senders(twilio: FakeTwilioApi) -> handlers.Senders:
    channels = ChannelSettings(twilio_account_sid=ACCOUNT, twilio_auth_token=SecretStr("token"),
                               twilio_from_number=CITY_NUMBER, twilio_api_base_url=twilio.url)
    smtp = SmtpSender(SMTP[0], SMTP[1], None, None, 10.0)
    return handlers.Senders(send_email=smtp.send, mail_from="311@omni311.test", mail_from_name="City 311",
                            twilio=TwilioSender(channels))


@pytest.fixture
async def client(service_pool: asyncpg.Pool, fresh_schema_name: str, test_issuer: TestIssuer, clock: Clock,
                 senders: handlers.Senders) -> AsyncIterator[httpx.AsyncClient]:
    """The profile API as `create_app` mounts it, on this test's schema, with the demo city's region (CA)."""
    app = FastAPI()
    install_auth(app, test_issuer.verifier())
    linking = Linking(senders, secret=SECRET, ttl_s=600, max_attempts=5, per_hour=3, region="CA")
    http.mount(app, http.ProfileApi(lambda: PgUnitOfWork(service_pool, service=fresh_schema_name,
                                                         repository=NotifierRepository, now=clock()),
                                    lambda: linking))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notifier") as c:
        yield c


_LINES = itertools.count(uuid.uuid4().int % 5000)
"""Line numbers handed out once per run: a random one collided with another test's number (two residents
sharing a phone in the fake Twilio's log made "sends nothing" fail about once in a few hundred runs)."""


def resident() -> tuple[str, str]:
    """A fresh email address (its own mailbox on the test mail server) and phone number of Ottawa."""
    return f"res-{uuid.uuid4().hex[:10]}@resident.test", f"+1613555{next(_LINES) % 10000:04d}"


def sms_code(twilio: FakeTwilioApi, phone: str) -> str:
    bodies = [m["Body"] for m in twilio.messages() if m["To"] == phone]
    assert bodies, f"no text to {phone}"
    found = re.search(r"\b(\d{6})\b", bodies[-1])
    assert found, bodies[-1]
    return found.group(1)


async def email_code(address: str, count: int = 1) -> str:
    messages = await eventually(lambda: _at_least(address, count), timeout=10)
    found = re.search(r"\b(\d{6})\b", text_of(messages[-1]))
    assert found
    return found.group(1)


async def _at_least(address: str, count: int) -> list[Any] | None:
    got = await inbox(address)
    return got if len(got) >= count else None


async def ask(client: httpx.AsyncClient, email: str, phone: str, **body: Any) -> httpx.Response:
    return await client.post("/profile-links", json={"email": email, "phone": phone, "language": "en", **body})


async def test_a_resident_links_email_and_phone_with_the_codes_sent_by_sms_and_email(
        client: httpx.AsyncClient, twilio: FakeTwilioApi, test_issuer: TestIssuer) -> None:
    email, phone = resident()
    asked = await ask(client, email, phone.replace("+1", "(").replace("613", "613) ", 1), preferred_channel="sms",
                      language="fr")
    assert asked.status_code == 201, asked.text
    link_id = asked.json()["link_id"]
    text = [m for m in twilio.messages() if m["To"] == phone][-1]
    assert text["From"] == CITY_NUMBER and "votre code pour lier ce numéro" in text["Body"]
    (mail,) = await eventually(lambda: _at_least(email, 1), timeout=10)
    assert mail["Subject"] == "Votre code pour lier cette adresse courriel" and "Auto-Submitted" in mail
    codes = {"email_code": await email_code(email), "sms_code": sms_code(twilio, phone)}

    confirmed = await client.post(f"/profile-links/{link_id}/confirm", json=codes)

    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    masked = {c["kind"]: c["masked"] for c in body["contacts"]}
    assert masked == {"email": f"r***@resident.test", "phone": f"+1 613-***-{phone[-4:]}"}
    assert {c["contact_key"] for c in body["contacts"]} == {contact_key("email", email), contact_key("phone", phone)}
    seen = await client.get("/staff/profiles", params={"contact_key": contact_key("phone", phone)},
                            headers=test_issuer.headers("call_agent"))
    assert seen.status_code == 200, seen.text
    assert seen.json()["profile_id"] == body["profile_id"]
    assert (seen.json()["preferred_channel"], seen.json()["language"]) == ("sms", "fr")
    assert {c["linked_by"] for c in seen.json()["contacts"]} == {"resident"}
    again = await client.post(f"/profile-links/{link_id}/confirm", json=codes)  # a retried call: the same answer
    assert again.status_code == 200 and again.json()["profile_id"] == body["profile_id"]


async def test_a_wrong_code_counts_a_try_and_the_last_try_ends_the_request(
        client: httpx.AsyncClient, twilio: FakeTwilioApi, test_issuer: TestIssuer) -> None:
    email, phone = resident()
    link_id = (await ask(client, email, phone)).json()["link_id"]
    right = {"email_code": await email_code(email), "sms_code": sms_code(twilio, phone)}
    wrong = {"email_code": right["email_code"], "sms_code": f"{(int(right['sms_code']) + 1) % 10**6:06d}"}

    lefts = []
    for _ in range(5):
        answer = await client.post(f"/profile-links/{link_id}/confirm", json=wrong)
        assert answer.status_code == 422 and answer.json()["error"] == "code_mismatch", answer.text
        lefts.append(answer.json()["attempts_left"])
    assert lefts == [4, 3, 2, 1, 0]
    final = await client.post(f"/profile-links/{link_id}/confirm", json=right)
    assert (final.status_code, final.json()["error"]) == (410, "out_of_tries")
    nothing = await client.get("/staff/profiles", params={"contact_key": contact_key("email", email)},
                               headers=test_issuer.headers("call_agent"))
    assert nothing.status_code == 404
    unknown = await client.post(f"/profile-links/{uuid.uuid4()}/confirm", json=right)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "unknown")
    assert (await client.post("/profile-links/not-a-uuid/confirm", json=right)).status_code == 404


async def test_codes_expire_after_ten_minutes(client: httpx.AsyncClient, twilio: FakeTwilioApi, clock: Clock) -> None:
    email, phone = resident()
    link_id = (await ask(client, email, phone)).json()["link_id"]
    codes = {"email_code": await email_code(email), "sms_code": sms_code(twilio, phone)}
    clock.now += timedelta(seconds=600)

    answer = await client.post(f"/profile-links/{link_id}/confirm", json=codes)

    assert (answer.status_code, answer.json()["error"]) == (410, "expired")


async def test_a_fourth_request_for_one_address_within_the_hour_is_refused_and_sends_nothing(
        client: httpx.AsyncClient, twilio: FakeTwilioApi, clock: Clock) -> None:
    email, _ = resident()
    phones = [resident()[1] for _ in range(4)]
    for phone in phones[:3]:
        assert (await ask(client, email, phone)).status_code == 201
    refused = await ask(client, email, phones[3])
    assert refused.status_code == 429 and refused.headers["retry-after"] == "3600"
    assert not [m for m in twilio.messages() if m["To"] == phones[3]]
    clock.now += timedelta(hours=1, seconds=1)
    assert (await ask(client, email, phones[3])).status_code == 201


async def test_bad_addresses_and_numbers_are_refused_with_nothing_sent(
        client: httpx.AsyncClient, twilio: FakeTwilioApi) -> None:
    email, phone = resident()
    before = len(twilio.messages())
    for bad in ({"email": "not-an-address", "phone": phone}, {"email": email, "phone": "12"},
                {"email": email, "phone": "+33 1 42 76 40 40"}, {"email": "ré@exemple.fr", "phone": phone}):
        answer = await client.post("/profile-links", json={**bad, "language": "en"})
        assert answer.status_code == 422, (bad, answer.text)
    assert (await client.post("/profile-links", json={"email": email, "phone": phone, "language": "de"})
            ).status_code == 422
    assert len(twilio.messages()) == before


async def test_linking_contacts_that_have_profiles_joins_the_profiles(
        client: httpx.AsyncClient, twilio: FakeTwilioApi, test_issuer: TestIssuer, clock: Clock) -> None:
    agent = test_issuer.headers("call_agent", subject="agent-7")
    (email1, phone1), (email2, phone2) = resident(), resident()
    first = await client.post("/staff/profiles/links", headers=agent, json={
        "contacts": [{"kind": "email", "value": email1}, {"kind": "phone", "value": phone1}], "language": "en"})
    assert first.status_code == 200, first.text
    clock.now += timedelta(seconds=1)
    second = await client.post("/staff/profiles/links", headers=agent, json={
        "contacts": [{"kind": "email", "value": email2}, {"kind": "phone", "value": phone2}],
        "preferred_channel": "email"})
    assert second.json()["profile_id"] != first.json()["profile_id"]
    assert {c["linked_by"] for c in first.json()["contacts"]} == {"staff:agent-7"}

    link_id = (await ask(client, email1, phone2, preferred_channel="sms")).json()["link_id"]
    codes = {"email_code": await email_code(email1), "sms_code": sms_code(twilio, phone2)}
    joined = await client.post(f"/profile-links/{link_id}/confirm", json=codes)

    assert joined.status_code == 200, joined.text
    assert joined.json()["profile_id"] == first.json()["profile_id"]  # the older profile stays
    assert len(joined.json()["contacts"]) == 4
    for key in (contact_key("email", email2), contact_key("phone", phone1)):
        seen = (await client.get("/staff/profiles", params={"contact_key": key}, headers=agent)).json()
        assert seen["profile_id"] == first.json()["profile_id"]
        assert (seen["preferred_channel"], seen["language"]) == ("sms", "en")


async def test_staff_change_and_unlink_with_their_roles_and_bad_input_changes_nothing(
        client: httpx.AsyncClient, test_issuer: TestIssuer) -> None:
    agent, supervisor = test_issuer.headers("call_agent"), test_issuer.headers("supervisor")
    email, phone = resident()
    contacts = [{"kind": "email", "value": email}, {"kind": "messenger", "value": "2450000000001"}]
    assert (await client.post("/staff/profiles/links", json={"contacts": contacts})).status_code == 401
    bad = [{"kind": "email", "value": email}, {"kind": "fax", "value": "1"}]
    refused = await client.post("/staff/profiles/links", headers=agent, json={"contacts": bad})
    assert refused.status_code == 422 and "fax" in refused.json()["detail"]
    no_phone = await client.post("/staff/profiles/links", headers=agent,
                                 json={"contacts": contacts, "preferred_channel": "sms"})
    assert no_phone.status_code == 422 and no_phone.json()["error"] == "no_contact_for_channel"
    key = contact_key("email", email)
    assert (await client.get("/staff/profiles", params={"contact_key": key}, headers=agent)).status_code == 404

    profile = (await client.post("/staff/profiles/links", headers=agent, json={"contacts": contacts})).json()
    pid = profile["profile_id"]
    assert (await client.patch(f"/staff/profiles/{pid}", headers=agent, json={})).status_code == 422
    assert (await client.patch(f"/staff/profiles/{pid}", headers=agent,
                               json={"preferred_channel": "sms"})).status_code == 422
    changed = await client.patch(f"/staff/profiles/{pid}", headers=agent,
                                 json={"preferred_channel": "email", "language": "fr"})
    assert (changed.json()["preferred_channel"], changed.json()["language"]) == ("email", "fr")
    assert (await client.patch(f"/staff/profiles/{uuid.uuid4()}", headers=agent,
                               json={"language": "en"})).status_code == 404

    path = f"/staff/profiles/{pid}/contacts/{contact_key('messenger', '2450000000001')}"
    assert (await client.delete(path, headers=agent)).status_code == 403
    unlinked = await client.delete(path, headers=supervisor)
    assert unlinked.status_code == 200 and [c["kind"] for c in unlinked.json()["contacts"]] == ["email"]
    assert (await client.delete(path, headers=supervisor)).status_code == 404
    assert (await client.get("/staff/profiles", params={"contact_key": "nope"}, headers=agent)).status_code == 422


async def test_an_acknowledgement_goes_on_the_preferred_channel_in_the_profile_language(
        client: httpx.AsyncClient, twilio: FakeTwilioApi, test_issuer: TestIssuer, service_pool: asyncpg.Pool,
        fresh_schema_name: str, senders: handlers.Senders, clock: Clock) -> None:
    email, phone = resident()
    linked = await client.post("/staff/profiles/links", headers=test_issuer.headers("call_agent"), json={
        "contacts": [{"kind": "email", "value": email}, {"kind": "phone", "value": phone}],
        "preferred_channel": "sms", "language": "fr"})
    assert linked.status_code == 200, linked.text

    def uow(envelope: Envelope, now: datetime) -> PgUnitOfWork[NotifierRepository]:
        return PgUnitOfWork(service_pool, service=fresh_schema_name, repository=NotifierRepository, now=now,
                            envelope=envelope)

    table = handlers.handlers(handlers.Sending(senders, uow))
    opened = CaseOpened(case_id=uuid.uuid4(), service_request_id="DEMO-26-000777", jurisdiction_id="demo",
                        channel="email", channel_message_id=f"<{uuid.uuid4().hex}@resident.test>",
                        contact_key=contact_key("email", email), description="Pothole", requested_datetime=clock(),
                        language="en", pii={"email": email})  # type: ignore[arg-type]
    envelope = Envelope.new_flow(opened, subject=str(opened.case_id), producer="case", now=clock())

    result = await dispatch(table, envelope, lambda: uow(envelope, clock()))

    assert result == "sending,sent"
    text = [m for m in twilio.messages() if m["To"] == phone][-1]["Body"]
    assert "DEMO-26-000777" in text and "signalement reçu" in text
    async with service_pool.acquire() as conn:
        row = await conn.fetchrow(f'SELECT channel, status, recipient_key FROM "{fresh_schema_name}".deliveries '
                                  "WHERE case_id = $1", opened.case_id)
    assert dict(row) == {"channel": "sms", "status": "sent", "recipient_key": recipient_key("email", email)}
    assert await inbox(email) == []  # nothing by email
