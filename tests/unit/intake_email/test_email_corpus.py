"""Every real mail of the shared test data's email corpus (`email/`, read through
`support.data.shared_data()`) parses without an exception, is classified as expected with a reason, and
reads as its sender wrote it: known words present, no mojibake, no replacement characters where the file
is correctly labelled."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import support.data

from services.intake_email.domain import classify, is_forward, new_text, parse_message


@dataclass(frozen=True)
class Expected:
    kind: str
    reason: str  # a fragment of Classification.reason
    words: tuple[str, ...] = ()  # must appear in the parsed text, subject, names or file names
    subject: str | None = None  # exact decoded subject, where the file tests subject decoding
    failed: tuple[str, ...] = ()  # bounces: failed recipients, in order
    clean: bool = True  # correctly labelled: no U+FFFD anywhere


MSG = "no automatic-mail marker"
DSN = "report-type=delivery-status"

EXPECTED: dict[str, Expected] = {
    # 3a. alaveteli: UK public bodies' replies
    "alaveteli_foi_public_body_mail/forward-quoting-example-2.eml": Expected(
        "message", MSG, ("Dear Mr Smith", "Please note that my email address has changed"),
        subject="RE: Freedom of Information request"),
    "alaveteli_foi_public_body_mail/lotus-notes-quoting.eml": Expected(
        "message", MSG, ("Dear Requester", "FOI Team")),
    "alaveteli_foi_public_body_mail/mislabelled-as-iso-8859-1.eml": Expected(
        "message", MSG, ("THERE'S A DASH NEXT \u2013 REQUEST",)),
    "alaveteli_foi_public_body_mail/multipart-no-final-boundary.eml": Expected(
        "message", MSG, ("This is an acknowledgement of your email", "final MIME boundary")),
    "alaveteli_foi_public_body_mail/no-part-charset-bad-utf8.eml": Expected(
        "message", MSG, ("贵公司负责人", "E-mail:wwwax88@126.com", "温Jian Bing"), subject="任乐松"),
    "alaveteli_foi_public_body_mail/non-utf8-filename.eml": Expected(
        "message", MSG, ("Some text", "RV %A312000 or more.xls", "other.xls")),
    "alaveteli_foi_public_body_mail/quoted-subject-iso8859-1.eml": Expected(
        "message", MSG, ("Senhor Benedito", "Documentação e Informação", "Câmara dos Deputados",
                         "Coordenação de Relacionamento, Pesquisa e Informação/CEDI", "sugestões"),
        subject="Câmara Responde: Banco de ideias"),
    "alaveteli_foi_public_body_mail/russian.eml": Expected(
        "message", MSG, ("Уважаемая Оксана Позднякова", "спасибо за ваше письмо", "С уважением"),
        subject="Re: Ваш сайт"),
    "alaveteli_foi_public_body_mail/track-response-abcmail-oof.eml": Expected(
        "auto_reply", "Auto-Submitted: auto-generated", ("I am out of the office until 03/01/2012",)),
    "alaveteli_foi_public_body_mail/track-response-exchange-oof-1.eml": Expected(
        "auto_reply", "out-of-office subject", ("I am out of the office",)),
    "alaveteli_foi_public_body_mail/track-response-exim-bounce.eml": Expected(
        "bounce", "X-Failed-Recipients", ("could not be delivered",), failed=("user@example.com",)),
    "alaveteli_foi_public_body_mail/track-response-lotus-oof-1.eml": Expected(
        "auto_reply", "Auto-Submitted: auto-generated", ("I will be out of the office",)),
    "alaveteli_foi_public_body_mail/track-response-messagelabs-oof-1.eml": Expected(
        "auto_reply", "out-of-office subject", ("Thank you for your email",), subject="Out of Office"),
    "alaveteli_foi_public_body_mail/track-response-ms-bounce.eml": Expected(
        "bounce", "message/delivery-status part", ("THIS IS A WARNING MESSAGE ONLY",),
        failed=("username@example.org.uk",)),
    "alaveteli_foi_public_body_mail/track-response-multipart-report.eml": Expected(
        "bounce", DSN, ("Delivery to the following recipients failed",), failed=("FailedUser@example.com",)),
    "alaveteli_foi_public_body_mail/track-response-outlook-oof.eml": Expected(
        "auto_reply", "out-of-office subject", ("I am currently out of the office",)),
    # 3b. sisimai: bounces, auto-replies, a feedback report, negative controls
    "sisimai_bounces_autoreplies/bsd_arf-01.eml": Expected(
        "report", "feedback-report", ("This is an email abuse report",)),
    "sisimai_bounces_autoreplies/bsd_lhost-amazonses-01.eml": Expected(
        "bounce", DSN, ("was undeliverable",), failed=("shironeko@example.co.jp",)),
    "sisimai_bounces_autoreplies/bsd_lhost-exim-01.eml": Expected(
        "bounce", "X-Failed-Recipients", ("permanent error",), failed=("kijitora@example.ed.jp",)),
    "sisimai_bounces_autoreplies/bsd_lhost-gmail-01.eml": Expected(
        "bounce", "X-Failed-Recipients", ("failed permanently",), failed=("userunknown@example.jp",)),
    "sisimai_bounces_autoreplies/bsd_lhost-googlegroups-01.eml": Expected(
        "bounce", "X-Failed-Recipients", ("グループ", "Google Groups"), failed=("libsisimai@googlegroups.com",)),
    "sisimai_bounces_autoreplies/bsd_lhost-office365-01.eml": Expected(
        "bounce", DSN, ("The email address wasn’t found",), subject="Undeliverable: Nyaan",
        failed=("kijitora@example.com",)),
    "sisimai_bounces_autoreplies/bsd_lhost-postfix-01.eml": Expected(
        "bounce", DSN, ("could not\nbe delivered",), failed=("kijitora@example.org", "r@p351355.pool.example.ne.jp")),
    "sisimai_bounces_autoreplies/dos_lhost-postfix-01.eml": Expected(
        "bounce", DSN, ("could not\nbe delivered",), failed=("kijitora@example.org", "r@p351355.pool.example.ne.jp")),
    "sisimai_bounces_autoreplies/bsd_rfc3464-01.eml": Expected(
        "bounce", DSN, ("Not enough disk space",), failed=("userunknown@bouncehammer.jp",)),
    "sisimai_bounces_autoreplies/bsd_rfc3834-01.eml": Expected(
        "auto_reply", "Auto-Submitted: auto-replied", ("returning to the office on May 5th",)),
    "sisimai_bounces_autoreplies/bsd_rfc3834-02.eml": Expected(
        "auto_reply", "X-Auto-Response-Suppress", ("out of the office Friday",)),
    "sisimai_bounces_autoreplies/bsd_rfc3834-03.eml": Expected(
        "auto_reply", "X-Apple-Action: VACATION", ("I'm only sleeping",)),
    "sisimai_bounces_autoreplies/not_is-not-bounce-01.eml": Expected(
        "message", MSG, ("にゃーーー", "Kijitora"), subject="にゃんこ"),
    "sisimai_bounces_autoreplies/not_is-not-bounce-02.eml": Expected(
        "message", MSG, ("it shouldn't be considered as bounce", "André Brás", "something")),
    # 3c. mikel/mail fixtures
    "mikel_mail/attachment_emails_attachment_message_rfc822.eml": Expected(
        "message", MSG, ("This is the first part.", "Just attaching another PDF", "broken.pdf")),
    "mikel_mail/attachment_emails_attachment_message_rfc822_inline_image.eml": Expected(
        "message", MSG, ("Another PDF", "img.png")),
    "mikel_mail/attachment_emails_attachment_msg_from_outlook.eml": Expected(
        "message", MSG, ("This is mail with msg attahment sent from Outlook 2007", "Some text")),
    "mikel_mail/attachment_emails_attachment_nonascii_filename.eml": Expected(
        "message", MSG, ("This is the first part.", "ciële.txt")),
    "mikel_mail/attachment_emails_attachment_with_encoded_name.eml": Expected(
        "message", MSG, ("We should not include these files", "01 Quien Te Dij"), clean=False),
    "mikel_mail/error_emails_bad_encoded_subject.eml": Expected("message", MSG, ("TEST",), subject="TEST"),
    "mikel_mail/error_emails_content_transfer_encoding_with_8bits.eml": Expected(
        "message", MSG, ("Holiday Gift Ideas for the Computer Professional!", "Wireless Cable/DSL Router"),
        subject="The Original Advantage #e13011"),
    "mikel_mail/error_emails_encoding_madness.eml": Expected("message", MSG, ("Body Text",)),
    "mikel_mail/error_emails_invalid_subject_characters.eml": Expected(
        "message", MSG, ("Formação Frenetikpolis",),
        subject="Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro"),
    "mikel_mail/error_emails_trademark_character_in_subject.eml": Expected(
        "message", MSG, ("Body Text - not important",), subject="GA.com\u00f4 has a lead for you"),
    "mikel_mail/error_emails_utf8_multipart_boundary.eml": Expected("message", MSG, ("Hello, world!",)),
    "mikel_mail/mime_emails_image_in_the_middle.eml": Expected(
        "message", MSG, ("put a picture in the middle of a message", "Oh look I am PLaying around with fonts!")),
    "mikel_mail/mime_emails_raw_email2.eml": Expected(
        "message", MSG, ("We should not include these files", "Forwarded message", "exclusions list")),
    "mikel_mail/mime_emails_raw_email_with_illegal_boundary.eml": Expected(
        "message", MSG, ("This is an outlook test", "So there.")),
    "mikel_mail/multi_charset_japanese_iso_2022.eml": Expected(
        "message", MSG, ("すみません。", "みける"), subject="まみむめも"),
    "mikel_mail/multi_charset_quoted-printable.eml": Expected("message", MSG, ("Valid: 是",), clean=False),
    "mikel_mail/multi_charset_utf7.eml": Expected("message", MSG, ("Valid:",)),
    "mikel_mail/multipart_report_emails_report_530.eml": Expected(
        "bounce", DSN, ("permanent fatal errors",), failed=("edwin@zzzzzzz.com",)),
    "mikel_mail/plain_emails_raw_email_reply.eml": Expected(
        "message", MSG, ("Message body",), subject="Re: Test reply email"),
    # 3d. hunnysoft: what Outlook 2000, Netscape 4.7, Eudora 4.2 and PINE really sent
    "hunnysoft_mua_samples/invalid-charset.eml": Expected(
        "message", MSG, ("The Hare and the Tortoise", "Slow but steady wins the race", "Jürgen Schmürgen")),
    "hunnysoft_mua_samples/m0004.eml": Expected(
        "message", MSG, ("Die Hasen und die Frösche", "mißliche Lage", "ärger als der Tod", "ersäufen"),
        subject="Die Hasen und die Frösche (Microsoft Outlook 00)"),
    "hunnysoft_mua_samples/m0010.eml": Expected(
        "message", MSG, ("Die Hasen klagten einst über", "außerordentliche Getöse", "Heinz Müller"),
        subject="Die Hasen und die Frösche (Microsoft Outlook 00)"),
    "hunnysoft_mua_samples/m0013.eml": Expected("message", MSG, ("blueball.png", "redball.png")),
    "hunnysoft_mua_samples/m0014.eml": Expected("message", MSG, ("The Hare and the Tortoise",)),
    "hunnysoft_mua_samples/m1005.eml": Expected(
        "message", MSG, ("Die Hasen und die Frösche", "unglücklicher sein müssen", "greenball.png"),
        subject="Die Hasen und die Frösche (Netscape Messenger 4.7)"),
    "hunnysoft_mua_samples/m2004.eml": Expected(
        "message", MSG, ("Die Hasen klagten einst über ihre mißliche Lage",), subject="Die Hasen und die Frösche"),
    "hunnysoft_mua_samples/m2014.eml": Expected(
        "message", MSG, ('sprach ein Redner, "in steter Furcht', "Jürgen Schmürgen"),
        subject="Die Hasen und die Frösche"),
    "hunnysoft_mua_samples/m3004.eml": Expected(
        "message", MSG, ("HasenundFrösche.txt", "Heinz Müller"), subject="Die Hasen und die Frösche"),
}

MOJIBAKE = re.compile("Ã[\u0080-\u00ff]|â€|Â[\u0080-\u00bf ]|Ð[\u0080-\u00bf]|Ñ[\u0080-\u00bf]")


def corpus_files() -> list[str]:
    root = support.data.shared_data() / "email"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.eml"))


def read(name: str) -> bytes:
    return (support.data.shared_data() / "email" / name).read_bytes()


def everything_readable(name: str) -> str:
    p = parse_message(read(name))
    names = [b.name for b in (p.from_addr, *p.to, *p.cc) if b]
    files = [a.filename or "" for a in p.attachments]
    return "\n".join([p.text, p.subject, *names, *files])


def test_the_table_covers_every_mail_in_the_corpus() -> None:
    assert corpus_files() == sorted(EXPECTED), "a mail was added to or removed from the corpus: update EXPECTED"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_mail_parses_and_is_classified_with_its_reason(name: str) -> None:
    expected = EXPECTED[name]
    parsed = parse_message(read(name))
    verdict = classify(parsed)
    assert (verdict.kind, expected.reason in verdict.reason) == (expected.kind, True), verdict.reason
    if expected.kind == "bounce":
        assert verdict.failed_recipients == expected.failed
    if expected.subject is not None:
        assert parsed.subject == expected.subject


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_mail_reads_without_mojibake(name: str) -> None:
    expected = EXPECTED[name]
    text = everything_readable(name)
    for word in expected.words:
        assert word in text, f"{word!r} missing"
    assert not MOJIBAKE.findall(text)
    if expected.clean:
        assert "\ufffd" not in text


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e.kind == "message"))
def test_every_resident_message_has_a_description(name: str) -> None:
    parsed = parse_message(read(name))
    text = new_text(parsed.text, forward=is_forward(parsed.subject))
    assert (text or parsed.subject).strip()
    assert parsed.message_id.startswith("<") and parsed.message_id.endswith(">")


def test_counts_per_kind() -> None:
    counts: dict[str, int] = {}
    for expected in EXPECTED.values():
        counts[expected.kind] = counts.get(expected.kind, 0) + 1
    assert counts == {"message": 37, "auto_reply": 8, "bounce": 12, "report": 1}


# --- what particular files are there to show ------------------------------------------------------------


def test_a_delay_notice_is_a_transient_bounce_and_a_failure_is_not() -> None:
    delay = classify(parse_message(read("alaveteli_foi_public_body_mail/track-response-ms-bounce.eml")))
    failure = classify(parse_message(read("alaveteli_foi_public_body_mail/track-response-multipart-report.eml")))
    assert (delay.transient, failure.transient) == (True, False)


def test_crlf_and_lf_copies_of_a_bounce_parse_alike() -> None:
    lf = parse_message(read("sisimai_bounces_autoreplies/bsd_lhost-postfix-01.eml"))
    crlf = parse_message(read("sisimai_bounces_autoreplies/dos_lhost-postfix-01.eml"))
    assert (lf.text, lf.subject, lf.delivery_status) == (crlf.text, crlf.subject, crlf.delivery_status)


def test_a_mail_without_message_id_gets_a_stable_one_from_its_bytes() -> None:
    raw = read("alaveteli_foi_public_body_mail/forward-quoting-example-2.eml")
    first, second = parse_message(raw), parse_message(raw)
    assert first.message_id_synthesised and first.message_id == second.message_id
    assert first.message_id != parse_message(raw + b"\n").message_id


def test_the_duplicate_from_header_added_by_the_corpus_authors_is_ignored() -> None:
    parsed = parse_message(read("hunnysoft_mua_samples/m0010.eml"))
    assert parsed.from_addr is not None
    assert (parsed.from_addr.name, parsed.from_addr.address) == ("Doug Sauder", "doug@example.com")


def test_reply_threading_headers_are_read_in_order() -> None:
    parsed = parse_message(read("mikel_mail/plain_emails_raw_email_reply.eml"))
    assert parsed.in_reply_to == ("<348F04F142D69C21-291E56D292BC@xxxx.net>",)
    assert parsed.references == ("<473FF3B8.9020707@xxx.org>", "<348F04F142D69C21-291E56D292BC@xxxx.net>")


def test_format_flowed_lines_are_joined() -> None:
    text = parse_message(read("hunnysoft_mua_samples/m2014.eml")).text
    assert ("sprach ein Redner, \"in steter Furcht vor Menschen und Tieren, eine Beute der Hunde, der Adler, ja "
            "fast aller Raubtiere!") in text


def test_invalid_dates_are_none_and_odd_offsets_are_kept() -> None:
    bad = parse_message(read("mikel_mail/error_emails_trademark_character_in_subject.eml"))
    odd = parse_message(read("mikel_mail/error_emails_content_transfer_encoding_with_8bits.eml"))
    assert bad.date is None and any("Date" in p for p in bad.problems)
    assert odd.date is not None and odd.date.utcoffset().total_seconds() == -(4 * 3600 + 59 * 60)


def test_html_only_mail_becomes_text_without_markup_or_styles() -> None:
    parsed = parse_message(read("mikel_mail/error_emails_content_transfer_encoding_with_8bits.eml"))
    assert parsed.text_source == "html"
    assert "<" not in parsed.text.replace("<mailto", "") and "font-family" not in parsed.text


def test_attachments_keep_their_names_types_and_bytes() -> None:
    parsed = parse_message(read("hunnysoft_mua_samples/m3004.eml"))
    (story,) = parsed.attachments
    assert (story.filename, story.content_type) == ("HasenundFrösche.txt", "text/plain")
    assert "müssen als wir" in story.content.decode("iso-8859-1")
    assert parsed.text == ""  # the only text is the attachment: the subject stands in


def test_images_come_back_clean_and_publishable() -> None:
    parsed = parse_message(read("hunnysoft_mua_samples/m0013.eml"))
    assert [(a.filename, a.content_type, a.metadata_removed, a.publishable) for a in parsed.attachments] == [
        ("blueball.png", "image/png", True, True), ("redball.png", "image/png", True, True)]


def test_an_image_that_cannot_be_decoded_is_not_publishable() -> None:
    parsed = parse_message(read("mikel_mail/mime_emails_image_in_the_middle.eml"))
    (image,) = parsed.attachments
    assert image.is_image and not image.publishable
    assert any("IMG_2583.jpeg" in p for p in parsed.problems)


def test_windows_paths_in_file_names_are_reduced_to_the_name() -> None:
    parsed = parse_message(read("hunnysoft_mua_samples/m1005.eml"))
    assert [a.filename for a in parsed.attachments] == ["nsmailEG.png", "nsmail39.png", "greenball.png"]


def test_forwarded_messages_are_read_and_their_attachments_marked() -> None:
    parsed = parse_message(read("mikel_mail/attachment_emails_attachment_message_rfc822.eml"))
    (fwd,) = parsed.forwarded
    assert (fwd.subject, fwd.from_addr.address if fwd.from_addr else None) == ("Another PDF", "xxxx@xxxx.com")
    assert "Just attaching another PDF" in fwd.text
    assert [(a.filename, a.forwarded) for a in parsed.attachments] == [("broken.pdf", True)]


def test_the_returned_original_of_a_bounce_is_not_its_text() -> None:
    parsed = parse_message(read("alaveteli_foi_public_body_mail/track-response-multipart-report.eml"))
    assert "bottled water cooler" not in parsed.text and parsed.forwarded == ()


def test_illegal_boundaries_are_repaired() -> None:
    for name in ("mikel_mail/mime_emails_raw_email_with_illegal_boundary.eml",
                 "mikel_mail/error_emails_utf8_multipart_boundary.eml"):
        parsed = parse_message(read(name))
        assert "repaired an illegal multipart boundary" in parsed.problems
        assert "--" not in parsed.text


def test_no_file_in_the_corpus_path_is_copied_into_the_repository() -> None:
    repo = Path(__file__).resolve().parents[3]
    names = {Path(n).name for n in EXPECTED}
    assert not [p for p in repo.rglob("*.eml") if p.name in names and ".venv" not in p.parts]
