"""Retention as pure functions: phone numbers and email addresses found in free text and removed or
replaced by stable pseudonyms, a reporter's personal data erased or pseudonymised, and when a closed case
is past retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.case.domain import retention as r

NOW = datetime(2028, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "region", "expected"), [
    ("Call me at 613-555-0123 please", "CA", "Call me at [phone removed] please"),
    ("cell +1 (617) 555 0199.", "US", "cell [phone removed]."),
    ("joignez-moi au 06 12 34 56 78", "FR", "joignez-moi au [phone removed]"),
    ("write to ann.dupont+311@mail.example.org today", "US", "write to [email removed] today"),
    ("Ann <ANN@EXAMPLE.CO.UK>, 212.555.0100", "US", "Ann <[email removed]>, [phone removed]"),
    # Internationalised addresses (RFC 6531 local parts, IDN domains): a Montréal resident's name is accented.
    ("écrire à josée.côté@vidéotron.ca svp", "CA", "écrire à [email removed] svp"),
    ("contact: françois@example.com.", "CA", "contact: [email removed]."),
])
def test_phone_numbers_and_email_addresses_in_text_are_removed(text: str, region: str, expected: str) -> None:
    out, n = r.redact(text, region=region)
    assert out == expected and n == expected.count("removed]")


@pytest.mark.parametrize("text", [
    "Pothole 2 m wide at 45 Elm St, zip 02108, since 2026-03-02",
    "case DEMO-26-000123 reopened; 3 holes; lamp #4471",
    "someone@localhost wrote it, and a@b too",
    "",
])
def test_the_public_part_of_a_text_is_left_alone(text: str) -> None:
    assert r.redact(text, region="US") == (text, 0)


def test_an_email_is_replaced_whole_before_its_digits_could_look_like_a_phone_number() -> None:
    out, n = r.redact("mail 6135550123@sms.example.net", region="CA")
    assert out == "mail [email removed]" and n == 1


def test_pseudonyms_are_stable_keyed_and_say_nothing_of_the_value() -> None:
    out1, _ = r.redact("Ann at ann@example.org or 613-555-0123", mode="pseudonymise", region="CA", salt="demo")
    out2, _ = r.redact("again: ANN@example.org", mode="pseudonymise", region="CA", salt="demo")
    other, _ = r.redact("ann@example.org", mode="pseudonymise", region="CA", salt="nyc")
    assert "example.org" not in out1 and "555" not in out1
    email = r.pseudonym("email", "ann@example.org", salt="demo")
    assert f"[{email}]" in out1 and f"[{email}]" in out2 and email not in other
    assert r.pseudonym("phone", "613-555-0123").startswith("phone-") and len(email) == len("email-") + 12


def test_redacting_a_timeline_detail_reaches_every_string_inside_it() -> None:
    detail = {"actor": "u-1", "text": "called 613-555-0123", "after": {"notes": ["ann@example.org", 3]},
              "count": 2, "none": None}
    out, n = r.redact_tree(detail, region="CA")
    assert n == 2
    assert out == {"actor": "u-1", "text": "called [phone removed]", "after": {"notes": ["[email removed]", 3]},
                   "count": 2, "none": None}


def test_a_reporter_s_personal_data_is_erased_or_pseudonymised() -> None:
    pii = {"email": "ann@example.org", "phone": "+16135550123", "first_name": "Ann", "last_name": None}
    assert r.reporter_pii(pii, contact_key="ck_1", mode="erase") == {}
    pseudo = r.reporter_pii(pii, contact_key="ck_1", mode="pseudonymise")
    assert set(pseudo) == set(pii) and pseudo["last_name"] is None
    assert "ann" not in str(pseudo).lower() and pseudo["email"].startswith("email-")
    assert pseudo == r.reporter_pii(pii, contact_key="ck_1", mode="pseudonymise")
    assert pseudo["email"] != r.reporter_pii(pii, contact_key="ck_2", mode="pseudonymise")["email"]


def test_a_case_is_past_retention_on_the_day_the_policy_ends() -> None:
    assert r.cutoff(NOW, 730) == NOW - timedelta(days=730)
    assert r.past_retention(NOW - timedelta(days=730), NOW, 730)
    assert not r.past_retention(NOW - timedelta(days=729, hours=23), NOW, 730)
    assert not r.past_retention(None, NOW, 1)


def test_pseudonyms_under_a_secret_key_cannot_be_recomputed_without_it() -> None:
    # A phone number's keyless pseudonym can be found by trying every number; the key closes that door.
    keyless = r.pseudonym("phone", "+16135550123", salt="demo")
    keyed = r.pseudonym("phone", "+16135550123", salt="demo", key="s3cret")
    assert keyed != keyless and keyed == r.pseudonym("phone", "+16135550123", salt="demo", key="s3cret")
    assert keyed != r.pseudonym("phone", "+16135550123", salt="demo", key="other")
    text, _ = r.redact("call 613-555-0123", mode="pseudonymise", region="CA", salt="demo", key="s3cret")
    assert text == f"call [{r.pseudonym('phone', '613-555-0123', salt='demo', key='s3cret')}]"
    pii = r.reporter_pii({"phone": "+16135550123"}, contact_key="ck_1", mode="pseudonymise", key="s3cret")
    assert pii["phone"] != r.reporter_pii({"phone": "+16135550123"}, contact_key="ck_1", mode="pseudonymise")["phone"]


def test_the_service_warns_when_a_jurisdiction_pseudonymises_without_a_key() -> None:
    from types import SimpleNamespace

    from services.case.service_layer.retention import warn_without_key

    def place(mode: str) -> object:
        return SimpleNamespace(id="demo", retention=SimpleNamespace(mode=mode))

    assert warn_without_key(place("pseudonymise"), "") is True  # type: ignore[arg-type]
    assert warn_without_key(place("pseudonymise"), "s3cret") is False  # type: ignore[arg-type]
    assert warn_without_key(place("erase"), "") is False  # type: ignore[arg-type]
