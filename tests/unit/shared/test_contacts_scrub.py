"""`shared.contacts.scrub_contacts` on the spellings a hostile reader found it missed: full-width ``＠`` and
digits, ``[at]`` / ``(at)`` obfuscations, quoted local parts, seven-digit numbers after "call"; and texts it
must leave exactly as written (addresses, NYC house numbers, dates, times, case numbers, coordinates)."""

from __future__ import annotations

import pytest

from shared.contacts import scrub_contacts


@pytest.mark.parametrize(("text", "expected"), [
    ("write to bob＠example.com today", "write to [email] today"),
    ("bob＠example．com", "[email]"),
    ("bob [at] example [dot] com", "[email]"),
    ("bob (at) example (dot) com, thanks", "[email], thanks"),
    ("BOB [AT] Example [DOT] Org", "[email]"),
    ("bob{at}example{dot}com", "[email]"),
    ("mail bob@example [dot] com now", "mail [email] now"),
    ("reach me: bob [at] mail.example.com", "reach me: [email]"),
    ('"carol"@example.org', "[email]"),
    ('contact "carol smith"@example.org or not', "contact [email] or not"),
    ("２１２-５５５-０１２３ after 6", "[phone] after 6"),
    ("café ½ ﬁne, mail élodie＠exemple.fr", "café ½ ﬁne, mail [email]"),  # the rest stays as written
])
def test_obfuscated_and_full_width_contacts_are_scrubbed(text: str, expected: str) -> None:
    assert scrub_contacts(text, "US") == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("call me at 555-0199 after 6", "call me at [phone] after 6"),
    ("Tel. 555 0199", "Tel. [phone]"),
    ("phone: 555.0199", "phone: [phone]"),
    ("Appelez-moi au 555-0199", "Appelez-moi au [phone]"),
])
def test_seven_digit_numbers_are_scrubbed_only_after_a_word_that_calls_them_a_number(text: str,
                                                                                      expected: str) -> None:
    assert scrub_contacts(text, "US") == expected


@pytest.mark.parametrize("text", [
    "bob at example dot com",  # a bare "at" is an ordinary word
    "meet (at) noon near the park",
    "87-10 162 Street, Jamaica 11432",
    "104-15 Roosevelt Ave",
    "the 100-1200 block of Main St",
    "555-0199 Queens Blvd",  # seven digits with nothing that says phone
    "ZIP 10001-1234",
    "reported 2026-11-30 at 14:05, again 11/30/2026 10:30 PM",
    "Merged into DEMO-26-000062",
    "see NYC-26-001234 and DEMO-26-000062",
    "40.712776, -74.005974",
    "POINT(-73.9857 40.7484)",
    "call 311",
    'she said "hi" to me @ the corner',
    "1234 BROADWAY between W 45 ST and W 46 ST",
    "nid-de-poule au 275, rue Notre-Dame Est, H2Y 1C6",
])
def test_addresses_dates_times_case_numbers_and_coordinates_are_left_alone(text: str) -> None:
    assert scrub_contacts(text, "US") == text


@pytest.mark.parametrize("text", ["a" * 50_000, "{" * 20_000, "1-" * 10_000, "bob [at] " * 5_000])
def test_a_long_hostile_text_is_scrubbed_in_linear_time(text: str) -> None:
    import time

    started = time.monotonic()
    scrub_contacts(text, "US")
    assert time.monotonic() - started < 2.0
