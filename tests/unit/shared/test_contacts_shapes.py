"""One email shape, one mask of an email and of a phone number, for every service (shared.contacts)."""

from __future__ import annotations

import pytest

from shared.contacts import looks_like_email, mask_email, mask_phone


@pytest.mark.parametrize("text", ["a@b.co", "jane.doe+311@example.org", "é@exemple.fr", "a@b.c.d"])
def test_one_bare_address_looks_like_an_email(text: str) -> None:
    assert looks_like_email(text)


@pytest.mark.parametrize("text", ["", "a@b", "@b.co", "a@b.", "a b@c.d", "a@@b.c", '"a"@b.c', "Jane <a@b.co>",
                                  "a@b.co, c@d.co", "a@b.co\n", "x" * 250 + "@b.co"])
def test_anything_else_does_not(text: str) -> None:
    assert not looks_like_email(text)


def test_the_longest_path_is_254_characters() -> None:
    assert looks_like_email("x" * 249 + "@b.co") and len("x" * 249 + "@b.co") == 254


def test_an_email_shown_to_staff_keeps_its_first_letter_and_the_domain_after_the_last_at() -> None:
    assert mask_email("jo.smith@example.org") == "j***@example.org"
    assert mask_email('"a@b"@example.org') == '"***@example.org'
    assert mask_email("no-at-sign") == "***"


def test_a_phone_shown_to_staff_keeps_the_first_three_and_last_four_national_digits() -> None:
    assert mask_phone("+15145550123") == "+1 514-***-0123"
    assert mask_phone("+33142764040") == "+33 1 42 ** 40 40"
    assert mask_phone("not a number") == "***"
