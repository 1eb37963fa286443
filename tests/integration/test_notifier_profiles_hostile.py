"""The notifier's profile API under concurrent abuse, on real PostgreSQL (the same app, fakes and fixtures as
test_notifier_profiles_api): twenty wrong confirmations at once spend at most the five tries (the request row
is locked, so they take turns) and the right codes are refused after; two right confirmations at once link one
profile; six link requests for one address at once send at most the three codes of the hour."""

from __future__ import annotations

import asyncio

import httpx
from test_notifier_profiles_api import (  # noqa: F401 - fixtures
    ask,
    client,
    clock,
    email_code,
    migrated_package,
    resident,
    senders,
    sms_code,
    twilio,
)

from support.fakes import FakeTwilioApi


async def test_wrong_codes_sent_at_once_spend_at_most_the_tries(client: httpx.AsyncClient,
                                                                twilio: FakeTwilioApi) -> None:
    email, phone = resident()
    link_id = (await ask(client, email, phone)).json()["link_id"]
    right = {"email_code": await email_code(email), "sms_code": sms_code(twilio, phone)}
    guesses = [{"email_code": right["email_code"], "sms_code": f"{n:06d}"} for n in range(20)
               if f"{n:06d}" != right["sms_code"]][:19]

    answers = await asyncio.gather(*(client.post(f"/profile-links/{link_id}/confirm", json=g) for g in guesses))

    codes = sorted(a.status_code for a in answers)
    assert codes.count(422) == 5 and codes.count(410) == len(guesses) - 5, codes
    late = await client.post(f"/profile-links/{link_id}/confirm", json=right)
    assert (late.status_code, late.json()["error"]) == (410, "out_of_tries")


async def test_two_right_confirmations_at_once_link_one_profile(client: httpx.AsyncClient,
                                                                twilio: FakeTwilioApi) -> None:
    email, phone = resident()
    link_id = (await ask(client, email, phone)).json()["link_id"]
    right = {"email_code": await email_code(email), "sms_code": sms_code(twilio, phone)}

    first, second = await asyncio.gather(*(client.post(f"/profile-links/{link_id}/confirm", json=right)
                                           for _ in range(2)))

    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert first.json()["profile_id"] == second.json()["profile_id"]


async def test_link_requests_for_one_address_at_once_send_at_most_the_hours_codes(
        client: httpx.AsyncClient, twilio: FakeTwilioApi) -> None:
    email, _ = resident()
    phones = [resident()[1] for _ in range(6)]

    answers = await asyncio.gather(*(ask(client, email, p) for p in phones))

    assert sorted(a.status_code for a in answers) == [201, 201, 201, 429, 429, 429]
    assert len([m for m in twilio.messages() if m["To"] in phones]) == 3
