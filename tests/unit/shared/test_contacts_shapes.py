"""One email shape, one mask of an email and of a phone number, for every service (shared.contacts)."""

from __future__ import annotations

import pytest

from shared.contacts import looks_like_email


@pytest.mark.parametrize("text", ["a@b.co", "jane.doe+311@example.org", "é@exemple.fr", "a@b.c.d"])
def test_one_bare_address_looks_like_an_email(text: str) -> None:
    assert looks_like_email(text)


@pytest.mark.parametrize("text", ["", "a@b", "@b.co", "a@b.", "a b@c.d", "a@@b.c", '"a"@b.c', "Jane <a@b.co>",
                                  "a@b.co, c@d.co", "a@b.co\n", "x" * 250 + "@b.co"])
def test_anything_else_does_not(text: str) -> None:
    assert not looks_like_email(text)


def test_the_longest_path_is_254_characters() -> None:
    assert looks_like_email("x" * 249 + "@b.co") and len("x" * 249 + "@b.co") == 254
