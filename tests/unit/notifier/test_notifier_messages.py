"""Notification emails: threading headers, RFC 3834 markers, languages, escaping."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy

from services.notifier.domain.messages import Notice, compose_email, language_of, recipient_key

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
MESSAGE_ID = "<179598585898.945.8671032452324912991.NYC-26-000042@city.test>"


def _mail(notice: Notice, **kw):  # noqa: ANN003, ANN202
    msg = compose_email(notice, to_address="zoe@resident.test", from_address="311@city.test", from_name="Ville 311",
                        now=NOW, message_id=MESSAGE_ID, **kw)
    return email.message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)


def test_an_acknowledgement_quotes_the_case_number_and_threads_to_the_residents_mail() -> None:
    m = _mail(Notice(kind="acknowledgement", service_request_id="NYC-26-000042", language="en"),
              in_reply_to="<abc@resident.test>")
    assert "NYC-26-000042" in m["Subject"]
    assert m["In-Reply-To"] == "<abc@resident.test>" and m["References"] == "<abc@resident.test>"
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["Message-ID"] == MESSAGE_ID and m["Date"] == "Sun, 29 Nov 2026 12:00:00 +0000"
    assert "311+NYC-26-000042@city.test" in m["Reply-To"]
    assert "NYC-26-000042" in m.get_body(("plain",)).get_content()
    assert m.get_body(("html",)) is not None


def test_a_french_reporter_gets_french_and_markup_in_a_description_is_escaped() -> None:
    m = _mail(Notice(kind="acknowledgement", service_request_id="DEMO-26-000001", language=language_of("fr-CA"),
                     display_name="Zoé « Z » O'Brien", description="<script>alert(1)</script> trou"))
    assert "Nous avons bien reçu" in m["Subject"]
    html = m.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Zoé" in str(m["To"])


def test_the_message_id_is_the_callers() -> None:
    notice = Notice(kind="acknowledgement", service_request_id="NYC-26-000042", language="en")
    assert _mail(notice)["Message-ID"] == MESSAGE_ID


def test_a_merge_notice_names_the_surviving_case() -> None:
    m = _mail(Notice(kind="merged", service_request_id="DEMO-26-000002", language="en",
                     merged_into_service_request_id="DEMO-26-000001"))
    assert "joins case DEMO-26-000001" in m["Subject"]
    assert m["Auto-Submitted"] == "auto-generated"


def test_recipient_keys_ignore_case_and_spaces_but_not_the_channel() -> None:
    assert recipient_key("email", " A@B.test ") == recipient_key("email", "a@b.test")
    assert recipient_key("email", "a@b.test") != recipient_key("sms", "a@b.test")


def test_an_address_that_cannot_be_written_in_a_header_is_a_clear_error() -> None:
    import pytest

    with pytest.raises(ValueError, match="cannot address this email"):
        compose_email(Notice(kind="acknowledgement", service_request_id="X-26-000001", language="en"),
                      to_address="zoé@résident.test", from_address="311@city.test", from_name="City", now=NOW,
                      message_id=MESSAGE_ID)


def test_an_escalation_subject_stays_one_line_and_the_mail_has_no_reply_to_the_case() -> None:
    from services.notifier.domain.messages import Escalation

    facts = Escalation(rule_id="pw-breach", trigger="breach", link="https://w.test/cases/x",
                       service_name="Pothole\r\nBcc: victim@example.org", due="2026-03-02 11:00 EST")
    m = _mail(Notice(kind="escalation", service_request_id="DEMO-26-000042", language="en", escalation=facts))
    assert m["Bcc"] is None and "\n" not in m["Subject"] and "Pothole Bcc: victim@example.org" in m["Subject"]
    assert m["Reply-To"] is None and m["Auto-Submitted"] == "auto-generated"
    assert "https://w.test/cases/x" in m.get_body(("plain",)).get_content()


def test_a_staff_update_threads_to_our_last_mail_and_carries_no_auto_submitted() -> None:
    m = _mail(Notice(kind="public_update", service_request_id="DEMO-26-000042", language="fr", text="Équipe mardi."),
              in_reply_to="<ack@city.test>", references=("<first@resident.test>", "<ack@city.test>"))
    assert m["In-Reply-To"] == "<ack@city.test>" and m["References"] == "<first@resident.test> <ack@city.test>"
    assert m["Auto-Submitted"] is None and "Du nouveau" in m["Subject"]
    assert "Équipe mardi." in m.get_body(("plain",)).get_content()
