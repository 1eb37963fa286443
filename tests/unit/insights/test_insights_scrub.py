"""`shared.contacts.scrub_contacts`: every email address and phone number written the way residents of New
York, Boston and Montréal write them becomes `[email]` / `[phone]`; addresses, dates and plain words stay."""

from __future__ import annotations

import pytest

from shared.contacts import scrub_contacts


@pytest.mark.parametrize(("text", "region", "expected"), [
    ("Call me at 212-555-0123 about the noise", "US", "Call me at [phone] about the noise"),
    ("my cell (917) 555-0199, after 6pm", "US", "my cell [phone], after 6pm"),
    ("landlord: 718.555.0142", "US", "landlord: [phone]"),
    ("text 3475550178 when fixed", "US", "text [phone] when fixed"),
    ("+1 646 555 0111 is my number", "US", "[phone] is my number"),
    ("1-800-555-0199 ext 4", "US", "[phone]"),  # the extension goes with the number
    ("Boston: (617) 555 0123 or 617-635-4500", "US", "Boston: [phone] or [phone]"),
    ("Appelez le 514 872-0311, poste 2", "CA", "Appelez le [phone], poste 2"),
    ("Tél. : +1 (514) 555-0166", "CA", "Tél. : [phone]"),
    ("cell 438-555-0123", "CA", "cell [phone]"),
    ("en France +33 1 42 76 40 40", "CA", "en France [phone]"),
])
def test_phone_numbers_as_residents_write_them_are_scrubbed(text: str, region: str, expected: str) -> None:
    assert scrub_contacts(text, region) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("write to jane.doe@example.org please", "write to [email] please"),
    ("J.Smith+311@mail.nyc.gov.", "[email]."),
    ("courriel : marie-eve.tremblay@ville.montreal.qc.ca", "courriel : [email]"),
    ("élodie@exemple.fr, merci", "[email], merci"),
    ("two: a@b.co and c_d@e-f.org", "two: [email] and [email]"),
    ("2125550123@vtext.com", "[email]"),
])
def test_email_addresses_are_scrubbed_before_their_digits_are_read_as_a_phone(text: str, expected: str) -> None:
    assert scrub_contacts(text, "US") == expected


@pytest.mark.parametrize("text", [
    "Loud Music/Party (Street/Sidewalk)",
    "87-10 162 STREET, JAMAICA 11432",
    "1234 BROADWAY between W 45 ST and W 46 ST",
    "Pothole 3 ft wide, reported 2011-01-02 at 10:30",
    "ZIP 10027",
    "call 311",
    "nid-de-poule au 275, rue Notre-Dame Est",
    "",
])
def test_addresses_dates_and_plain_words_are_left_alone(text: str) -> None:
    assert scrub_contacts(text, "US") == text


def test_scrubbing_twice_changes_nothing_more() -> None:
    once = scrub_contacts("Call 212-555-0123 or mail a@b.org", "US")
    assert scrub_contacts(once, "US") == once == "Call [phone] or mail [email]"
