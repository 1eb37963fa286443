"""Resident profiles in the notifier (docs/integrations.md section 3), without I/O: the pure rules (contacts
read and masked, codes judged, the profile's target chosen, one notice per person), the handlers on the
in-memory unit of work (a notice goes on the profile's preferred channel, to its contact of that kind, in
its language, unless that address opted out; a cause reaches a person once even when the channel
changes; erasure keeps profiles) and the link requests' service layer (codes sent, the hourly limit, tries,
joins)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from notifier_fakes import ADDRESS, PHONE, FakeNotifierRepository, FakeTwilio, Sent, handle, opened, opt_out, table_for

from services.notifier.domain.messages import recipient_key
from services.notifier.domain.model import Contact
from services.notifier.domain.profiles import (
    ContactProblem,
    LinkedContact,
    LinkRequest,
    Preference,
    Profile,
    code_digest,
    judge_codes,
    mask,
    one_per_profile,
    preferred_address,
    read_contact,
    survivor_of,
    textable_here,
    with_preference,
)
from services.notifier.domain.targets import Target, preferred_target, with_profile
from services.notifier.service_layer import handlers as h
from services.notifier.service_layer import profiles as svc
from shared.contacts import contact_key
from shared.events import CasePersonalDataErased, CasePublicUpdate, CaseStatusChanged, Pii
from support.uow import T0, FakeStore

SECRET = "unit-profile-code-secret-of-32-bytes!"
EMAIL_KEY, PHONE_KEY = contact_key("email", ADDRESS), contact_key("phone", PHONE)


# --- pure rules --------------------------------------------------------------------------------------------


def test_contacts_are_masked_enough_to_recognise_not_to_use() -> None:
    assert mask("email", "jo.smith@example.org") == "j***@example.org"
    assert mask("phone", "+15145550123") == "+1 514-***-0123"
    assert mask("phone", "+33142764040") == "+33 1 42 ** 40 40"
    assert mask("messenger", "2450000000001") == "245***"


def test_contacts_are_read_as_the_intake_channels_key_them() -> None:
    assert read_contact("email", "  Jo@Example.org ", "CA") == ("Jo@Example.org", contact_key("email", "jo@example.org"))
    assert read_contact("phone", "(613) 555-0123", "CA") == ("+16135550123", contact_key("phone", "+16135550123"))
    for kind, bad in (("email", "ré@exemple.fr"), ("email", "no-at-sign"), ("email", "a@b.org\r\nBcc: x@y.org"),
                      ("phone", "12"), ("phone", "call me"), ("fax", "1"), ("messenger", ""),
                      ("messenger", "\ud800"), ("phone", "613\x00555 0123")):
        with pytest.raises(ContactProblem):
            read_contact(kind, bad, "CA")


def test_codes_are_texted_only_to_numbers_of_the_city_s_country() -> None:
    assert textable_here("+16135550123", "CA")
    assert not textable_here("+12125550123", "CA")  # New York, from Ottawa: abroad
    assert not textable_here("+33142764040", "CA")


def _request(**kw: Any) -> LinkRequest:
    link_id = kw.pop("link_id", uuid4())
    return LinkRequest(link_id=link_id, email=ADDRESS, phone=PHONE, email_key=EMAIL_KEY, phone_key=PHONE_KEY,
                       preferred_channel="sms", language="fr", email_code_hash=code_digest(SECRET, link_id, "email", "111111"),
                       sms_code_hash=code_digest(SECRET, link_id, "sms", "222222"), attempts=0, max_attempts=5,
                       created_at=T0, expires_at=T0 + timedelta(minutes=10), **kw)


def test_both_codes_are_needed_within_their_tries_and_time() -> None:
    r = _request()
    judge = lambda req, e, s, at=T0: judge_codes(req, e, s, secret=SECRET, now=at)  # noqa: E731
    assert judge(r, "111111", "222 222") == "confirmed"
    assert judge(r, "111111", "111111") == "mismatch"
    assert judge(r, "222222", "111111") == "mismatch"  # each code belongs to its channel
    assert judge(r, "111111", "222222", T0 + timedelta(minutes=10)) == "expired"
    assert judge(replace(r, attempts=5), "111111", "222222") == "out_of_tries"
    done = replace(r, confirmed_at=T0, profile_id=uuid4())
    assert judge(done, "111111", "222222") == "repeated"
    assert judge(done, "111111", "000000") == "already_confirmed"
    assert judge_codes(r, "111111", "222222", secret="another-secret", now=T0) == "mismatch"
    assert judge(r, "111111", "\ud800222222") == "mismatch"  # a lone surrogate hashes as no code


def _contact(key: str = EMAIL_KEY, channel: str = "email", **kw: Any) -> Contact:
    return Contact(case_id=kw.pop("case_id", uuid4()), service_request_id="DEMO-26-000001", contact_key=key,
                   channel=channel, language="en", **kw)


def _pref(channel: str | None = "sms", language: str | None = "fr", profile_id: UUID | None = None) -> Preference:
    return Preference(profile_id or uuid4(), channel, language,
                      ((PHONE_KEY, "phone", PHONE), ("ck_other", "phone", "+16135550999"),
                       (EMAIL_KEY, "email", ADDRESS)))


def test_the_profile_s_preferred_channel_goes_to_its_contact_of_that_kind() -> None:
    reporter = with_preference(_contact(email=ADDRESS), _pref())
    assert reporter.language == "fr"
    assert preferred_address(reporter) == ("sms", PHONE)  # the newest phone of the profile
    own = with_preference(_contact("ck_other", "sms", phone="+16135550999"), _pref())
    assert preferred_address(own) == ("sms", "+16135550999")  # their own number when it is of that kind
    assert preferred_target(reporter) == Target("twilio", "sms", PHONE, Pii(phone=PHONE))
    assert preferred_address(with_preference(_contact(email=ADDRESS), _pref(channel=None))) is None
    assert with_preference(_contact(), _pref(language=None)).language == "en"
    assert preferred_target(_contact(email=ADDRESS)) is None  # no profile


def test_a_blocked_preferred_address_leaves_the_notice_where_it_would_have_gone() -> None:
    usual, preferred = Target("email", "email", ADDRESS, Pii(email=ADDRESS)), Target("twilio", "sms", PHONE, Pii())
    assert with_profile(usual, preferred, None) is preferred
    assert with_profile(usual, preferred, "opted out") is usual
    assert with_profile(usual, None, None) is usual


def test_a_person_hears_a_notice_once_however_many_of_their_keys_are_told() -> None:
    pid = uuid4()
    a, b = with_preference(_contact("k1"), _pref(profile_id=pid)), with_preference(_contact("k2"), _pref(profile_id=pid))
    c, d = _contact("k3"), _contact("k4")
    assert one_per_profile([a, c, b, d]) == [a, c, d]


def test_the_oldest_profile_survives_a_join() -> None:
    old, new = Profile(uuid4(), None, None, T0), Profile(uuid4(), "sms", "fr", T0 + timedelta(days=1))
    assert survivor_of([new, old]) is old
    assert survivor_of([]) is None


# --- handlers: the notice follows the profile ---------------------------------------------------------------


def _link(store: FakeStore[FakeNotifierRepository], *contacts: tuple[str, str, str], channel: str | None = "sms",
          language: str | None = "fr") -> UUID:
    pid = uuid4()
    store.repo.profiles[pid] = Profile(pid, channel, language, T0, tuple(
        LinkedContact(key, kind, address, "resident", T0) for key, kind, address in contacts))
    return pid


def _update(case: Any, update_id: UUID) -> CasePublicUpdate:
    return CasePublicUpdate(case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
                            actor="u1", actor_role="supervisor", update_id=update_id, text="A crew comes Tuesday.")


async def test_an_email_report_is_acknowledged_by_sms_in_french_when_the_profile_prefers_it(
        store: FakeStore[FakeNotifierRepository], table: Any, sent: Sent) -> None:
    _link(store, (EMAIL_KEY, "email", ADDRESS), (PHONE_KEY, "phone", PHONE))
    case = opened("email", contact_key=EMAIL_KEY, language="en")

    assert await handle(store, table, case) == "sending,sent"

    assert sent.emails == []
    ((_, to, text),) = sent.texts
    assert to == PHONE and "signalement reçu" in text and case.service_request_id in text
    (row,) = store.repo.deliveries
    assert (row["channel"], row["recipient_key"]) == ("sms", recipient_key("email", ADDRESS))


async def test_an_opted_out_preferred_number_leaves_the_notice_on_the_usual_channel(
        store: FakeStore[FakeNotifierRepository], table: Any, sent: Sent) -> None:
    _link(store, (EMAIL_KEY, "email", ADDRESS), (PHONE_KEY, "phone", PHONE))
    await handle(store, table, opt_out(PHONE))

    await handle(store, table, opened("email", contact_key=EMAIL_KEY))

    assert sent.texts == [] and len(sent.emails) == 1
    assert "Nous avons bien reçu" in sent.emails[0]["Subject"]  # the profile's language still holds
    assert store.repo.deliveries[0]["channel"] == "email"


async def test_a_cause_reaches_a_reporter_once_even_when_the_profile_changes_the_channel(
        store: FakeStore[FakeNotifierRepository], table: Any, sent: Sent) -> None:
    case = opened("sms", contact_key=PHONE_KEY, phone=PHONE)
    await handle(store, table, case)
    update_id = uuid4()
    await handle(store, table, _update(case, update_id))
    _link(store, (EMAIL_KEY, "email", ADDRESS), (PHONE_KEY, "phone", PHONE), channel="email")

    again = await handle(store, table, _update(case, update_id))  # the same update, sent again by the case service
    assert again == "already_attempted"
    other = await handle(store, table, _update(case, uuid4()))

    assert other == "sending,sent"
    assert [m["To"].addresses[0].addr_spec for m in sent.emails] == [ADDRESS]
    assert [d["channel"] for d in store.repo.deliveries] == ["sms", "sms", "email"]
    assert {d["recipient_key"] for d in store.repo.deliveries} == {recipient_key("sms", PHONE)}


async def test_a_reporter_who_also_follows_under_another_key_of_their_profile_hears_a_status_once(
        store: FakeStore[FakeNotifierRepository], table: Any, sent: Sent) -> None:
    _link(store, (EMAIL_KEY, "email", ADDRESS), (PHONE_KEY, "phone", PHONE))
    case = opened("email", contact_key=EMAIL_KEY)
    await handle(store, table, case)
    await store.repo.add_follower(replace(_contact(PHONE_KEY, "sms", phone=PHONE, case_id=case.case_id),
                                          follower=True), T0)
    sent.texts.clear()

    result = await handle(store, table, CaseStatusChanged(
        case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
        status="open", status_notes="Crew booked"))  # type: ignore[arg-type]

    assert result == "sending,sent"
    assert len(sent.texts) == 1


async def test_retention_of_a_case_keeps_the_person_s_profile(
        store: FakeStore[FakeNotifierRepository], table: Any) -> None:
    pid = _link(store, (EMAIL_KEY, "email", ADDRESS), (PHONE_KEY, "phone", PHONE))
    case = opened("email", contact_key=EMAIL_KEY)
    await handle(store, table, case)

    await handle(store, table, CasePersonalDataErased(case_id=case.case_id, service_request_id=case.service_request_id,
                                                      jurisdiction_id="demo", contact_keys=[EMAIL_KEY],
                                                      mode="erase", closed_at=T0, policy_days=30))

    assert store.repo.contacts[case.case_id].email is None
    assert len(store.repo.profiles[pid].contacts) == 2
    late = await handle(store, table, CaseStatusChanged(
        case_id=case.case_id, service_request_id=case.service_request_id, jurisdiction_id="demo",
        status="closed", status_notes="Done"))  # type: ignore[arg-type]
    assert late == "no_contact"  # the profile does not bring an erased contact back


# --- the link requests' service layer ------------------------------------------------------------------------


@pytest.fixture
def linking(sent: Sent) -> svc.Linking:
    senders = h.Senders(send_email=sent.email, mail_from="311@city.test", mail_from_name="City 311",
                        twilio=FakeTwilio(sent))  # type: ignore[arg-type]
    return svc.Linking(senders, secret=SECRET, ttl_s=600, max_attempts=5, per_hour=3, region="CA")


def _uow(store: FakeStore[FakeNotifierRepository], at: Any = T0) -> Any:
    return lambda: store.uow(None, now=at)


async def test_a_link_request_texts_one_code_and_emails_another_and_keeps_only_their_digests(
        store: FakeStore[FakeNotifierRepository], linking: svc.Linking, sent: Sent) -> None:
    request = await svc.request_link(_uow(store), linking, email=ADDRESS, phone="613 555 0123",
                                     preferred_channel="sms", language="fr", link_id=uuid4(),
                                     codes=("123456", "654321"))

    ((_, to, text),) = sent.texts
    assert to == PHONE and "654321" in text and "123456" not in text
    (mail,) = sent.emails
    assert "123456" in mail.get_body(("plain",)).get_content() and mail["Reply-To"] is None
    kept = store.repo.link_requests[request.link_id]
    assert "123456" not in repr(kept) and "654321" not in repr(kept)
    assert store.repo.link_sends[request.link_id] == ("sent", "sent", None)
    assert kept.expires_at == T0 + timedelta(minutes=10)


async def test_a_fourth_request_in_the_hour_is_refused_and_a_stopped_number_is_not_texted(
        store: FakeStore[FakeNotifierRepository], linking: svc.Linking, sent: Sent) -> None:
    for n in range(3):
        await svc.request_link(_uow(store), linking, email=ADDRESS, phone=f"+1613555010{n}", preferred_channel=None,
                               language="en", link_id=uuid4())
    with pytest.raises(svc.ProfileError) as refused:
        await svc.request_link(_uow(store), linking, email=ADDRESS, phone="+16135550109", preferred_channel=None,
                               language="en", link_id=uuid4())
    assert (refused.value.status, refused.value.headers) == (429, {"Retry-After": "3600"})
    assert len(store.repo.link_requests) == 3 and len(sent.texts) == 3
    await svc.request_link(_uow(store, T0 + timedelta(hours=1, seconds=1)), linking, email=ADDRESS, phone="+16135550109",
                           preferred_channel=None, language="en", link_id=uuid4())

    await handle(store, table_for(store, sent), opt_out("+16135550177"))
    with pytest.raises(svc.ProfileError) as stopped:
        await svc.request_link(_uow(store), linking, email="other@resident.test", phone="+16135550177",
                               preferred_channel=None, language="en", link_id=uuid4())
    assert stopped.value.status == 422 and "STOP" in stopped.value.detail


async def test_a_failed_text_is_a_502_and_the_request_stays_counted(
        store: FakeStore[FakeNotifierRepository], linking: svc.Linking, sent: Sent) -> None:
    sent.fail = RuntimeError("Twilio is down")
    with pytest.raises(svc.ProfileError) as failed:
        await svc.request_link(_uow(store), linking, email=ADDRESS, phone=PHONE, preferred_channel=None,
                               language="en", link_id=(link_id := uuid4()))
    assert failed.value.status == 502
    assert store.repo.link_sends[link_id][:2] == ("failed", "failed") and sent.emails == []


async def test_confirming_counts_wrong_tries_and_joins_the_profiles_of_both_contacts(
        store: FakeStore[FakeNotifierRepository], linking: svc.Linking) -> None:
    older = _link(store, (EMAIL_KEY, "email", ADDRESS), ("ck_x", "messenger", "2450000000001"), channel=None,
                  language="en")
    newer = _link(store, (PHONE_KEY, "phone", PHONE), channel="email", language=None)
    store.repo.profiles[newer] = replace(store.repo.profiles[newer], created_at=T0 + timedelta(days=1))
    request = await svc.request_link(_uow(store), linking, email=ADDRESS, phone=PHONE, preferred_channel="sms",
                                     language="fr", link_id=uuid4(), codes=("111111", "222222"))

    async with store.uow(None) as uow:
        wrong = await svc.confirm_link(uow, linking, request.link_id, email_code="111111", sms_code="999999",
                                       new_profile_id=uuid4())
    assert (wrong.profile, wrong.attempts_left) == (None, 4)
    assert store.repo.link_requests[request.link_id].attempts == 1  # the try stays counted
    async with store.uow(None) as uow:
        done = await svc.confirm_link(uow, linking, request.link_id, email_code="111111", sms_code="222222",
                                      new_profile_id=uuid4())

    assert done.profile is not None and done.profile.profile_id == older
    assert newer not in store.repo.profiles
    assert {c.contact_key for c in done.profile.contacts} == {EMAIL_KEY, PHONE_KEY, "ck_x"}
    assert (done.profile.preferred_channel, done.profile.language) == ("sms", "fr")
    with pytest.raises(svc.ProfileError) as unknown:
        async with store.uow(None) as uow:
            await svc.confirm_link(uow, linking, uuid4(), email_code="1", sms_code="2", new_profile_id=uuid4())
    assert unknown.value.status == 404


async def test_staff_bad_input_changes_nothing(store: FakeStore[FakeNotifierRepository], linking: svc.Linking) -> None:
    for contacts in ([("email", ADDRESS), ("email", " " + ADDRESS)], [("email", ADDRESS), ("phone", "nope")],
                     [("email", ADDRESS)]):
        with pytest.raises(svc.ProfileError) as refused:
            async with store.uow(None) as uow:
                await svc.link_by_staff(uow, linking, contacts=contacts, staff_subject="agent", preferred_channel=None,
                                        language=None, new_profile_id=uuid4())
        assert refused.value.status == 422
    assert store.repo.profiles == {}
