"""Notification emails built from hostile names and texts still go to exactly the reporter, escaped."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.notifier.domain.messages import Notice, compose_email

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TO = "zoe@resident.test"


def _compose(notice: Notice, *, from_name: str = "Ville 311", in_reply_to: str | None = None):  # noqa: ANN202
    return compose_email(notice, to_address=TO, from_address="311@city.test", from_name=from_name, now=NOW,
                         message_id="<1.2.3.NYC-26-000001@city.test>", in_reply_to=in_reply_to)


def _wire(msg, smtp: bool = True) -> email.message.EmailMessage:  # noqa: ANN001
    raw = msg.as_bytes(policy=policy.SMTP) if smtp else bytes(msg)
    return email.message_from_bytes(raw, policy=policy.default)  # type: ignore[return-value]


def _ack(**kw: object) -> Notice:
    return Notice(**{"kind": "acknowledgement", "service_request_id": "NYC-26-000042", "language": "en", **kw})  # type: ignore[arg-type]


def _addresses(parsed: email.message.EmailMessage, header: str) -> list[str]:
    return [a.addr_spec for a in parsed[header].addresses]


@pytest.mark.parametrize(
    "name",
    ["=?utf-8?q?Bcc=3A_evil=40x.test?=", "x =?utf-8?b?ZXZpbEBldmlsLnRlc3Q+?= y", "=?utf-8?q?a=40evil.test=2C?="],
)
def test_a_name_spelled_as_an_encoded_word_cannot_add_or_replace_recipients(name: str) -> None:
    # The email package decodes "=?...?=" in a display name when it folds the header and writes the
    # result unquoted: "To: Bcc: evil@x.test <zoe@resident.test>" re-parses as a mail to evil@x.test.
    msg = _compose(_ack(display_name=name))
    for smtp in (True, False):
        parsed = _wire(msg, smtp)
        assert _addresses(parsed, "To") == [TO]
        assert "evil" not in str(parsed["To"]).split("<")[-1]


@pytest.mark.parametrize("name", ["Bob\r\nBcc: evil@x.test", "Bob\nX-Injected: 1", "Bob\rX", "Ann\x00\x0bDupont",
                                  "Ann\u2028Dupont"])
def test_a_name_with_line_breaks_or_controls_still_gets_its_acknowledgement_on_one_header_line(name: str) -> None:
    # headerregistry refuses CR/LF in a display name: the whole acknowledgement used to fail.
    parsed = _wire(_compose(_ack(display_name=name)))
    assert _addresses(parsed, "To") == [TO]
    assert "Bcc" not in parsed and "X-Injected" not in parsed
    assert "\n" not in parsed["To"].addresses[0].display_name
    assert parsed["To"].addresses[0].display_name.split()[0] in ("Bob", "Ann")


def test_a_from_name_with_a_line_break_is_kept_on_one_line() -> None:
    parsed = _wire(_compose(_ack(), from_name="Ville 311\r\nBcc: evil@x.test"))
    assert _addresses(parsed, "From") == ["311@city.test"] and "Bcc" not in parsed


def test_an_in_reply_to_with_a_line_break_drops_threading_not_the_message() -> None:
    parsed = _wire(_compose(_ack(), in_reply_to="<a@b>\r\nBcc: evil@x.test"))
    assert _addresses(parsed, "To") == [TO] and "Bcc" not in parsed
    assert parsed["In-Reply-To"] is None and parsed["References"] is None


def test_markup_in_every_resident_text_is_escaped_in_the_html_part() -> None:
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)> & "q"'
    for notice in (_ack(display_name=evil, description=evil), _ack(kind="closed", status_notes=evil),
                   _ack(kind="status_changed", language="fr", status_notes=evil, display_name=evil)):
        parsed = _wire(_compose(notice))
        html = parsed.get_body(("html",)).get_content()
        assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
        assert "<script>" in parsed.get_body(("plain",)).get_content()  # plain text keeps what was written


def test_a_very_long_case_number_survives_in_subject_and_reply_to() -> None:
    number = "NYC-26-" + "9" * 200
    msg = _compose(_ack(service_request_id=number))
    parsed = _wire(msg)
    assert parsed["Subject"] == msg["Subject"] and number in parsed["Subject"]
    assert _addresses(parsed, "Reply-To") == [f"311+{number}@city.test"]


NAME_CHARS = st.sampled_from(list("AaZzéÉçÇœ«»\"'\\,;:<>@()[]=?_.- \t\r\n\x00\x7fßЖ中😀\u202e") + ["=?", "?=", "=?utf-8?q?", "Bcc:"])


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.lists(NAME_CHARS, max_size=30).map("".join), description=st.text(max_size=200),
       kind=st.sampled_from(["acknowledgement", "merged", "status_changed", "closed"]), language=st.sampled_from(["en", "fr", "de"]))
def test_any_name_and_text_give_a_message_to_exactly_the_reporter(name, description, kind, language) -> None:  # noqa: ANN001
    description = description.encode("utf-8", "ignore").decode()  # lone surrogates cannot reach the notifier
    notice = Notice(kind=kind, service_request_id="DEMO-26-000001", language=language, display_name=name,
                    description=description, status_notes=description, merged_into_service_request_id="DEMO-26-000002")
    msg = _compose(notice)
    for smtp in (True, False):
        parsed = _wire(msg, smtp)
        assert _addresses(parsed, "To") == [TO]
        assert _addresses(parsed, "From") == ["311@city.test"]
        assert parsed["Subject"] == msg["Subject"]
        assert set(parsed.keys()) <= {"From", "To", "Reply-To", "Subject", "Date", "Message-ID", "Auto-Submitted",
                                      "X-Auto-Response-Suppress", "Content-Language", "X-Omni311-Case",
                                      "MIME-Version", "Content-Type"}
