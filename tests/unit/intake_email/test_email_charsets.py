"""Wrong, empty and unknown charset labels decode to the text the sender typed; nothing raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake_email.domain import decode_bytes, normalise_charset, parse_message

FRENCH = "Le lampadaire devant l'école est cassé depuis déjà une semaine – merci à vous"


def mail(body: bytes, content_type: str, cte: str = "8bit", headers: bytes = b"") -> bytes:
    return (b"From: Jeanne <jeanne@example.org>\r\nTo: 311@city.example\r\nSubject: lampadaire\r\n"
            b"Message-ID: <t1@example.org>\r\nMIME-Version: 1.0\r\n" + headers
            + b"Content-Type: " + content_type.encode() + b"\r\nContent-Transfer-Encoding: " + cte.encode()
            + b"\r\n\r\n" + body + b"\r\n")


@pytest.mark.parametrize(("content_type", "encoding"), [
    ('text/plain; charset="uft-8"', "utf-8"),  # typo
    ('text/plain; charset=""', "utf-8"),  # empty label
    ("text/plain; charset=", "cp1252"),  # empty label, Windows bytes
    ('text/plain; charset="utf-8"junk', "utf-8"),  # junk after the name
    ('text/plain; charset="utf-8 (was latin1)"', "utf-8"),
    ("text/plain; charset=iso-8859-1", "cp1252"),  # a Latin-1 label on windows-1252 bytes (the dash)
    ("text/plain; charset=us-ascii", "utf-8"),  # UTF-8 bytes labelled ASCII
    ("text/plain; charset=utf-8", "cp1252"),  # Windows bytes labelled UTF-8
    ("text/plain; charset=invalid-charset", "cp1252"),
    ("text/plain; charset=base64", "utf-8"),  # a codec name that is not a charset
    ("text/plain", "utf-8"),
])
def test_mislabelled_bodies_decode_to_the_typed_text(content_type: str, encoding: str) -> None:
    parsed = parse_message(mail(FRENCH.encode(encoding), content_type))
    assert parsed.text == FRENCH


def test_iso_8859_8_i_is_read_as_hebrew() -> None:
    text = "הפנס ברחוב שבור"
    parsed = parse_message(mail(text.encode("iso-8859-8"), 'text/plain; charset="iso-8859-8-i"'))
    assert parsed.text == text


def test_ks_c_5601_1987_is_read_as_korean() -> None:
    text = "가로등이 고장났습니다"
    parsed = parse_message(mail(text.encode("cp949"), "text/plain; charset=ks_c_5601-1987"))
    assert parsed.text == text


@pytest.mark.parametrize("label", ["utf-7", "unicode-1-1-utf-7"])
def test_utf7_bodies_decode(label: str) -> None:
    parsed = parse_message(mail("Réparé ✓".encode("utf-7"), f"text/plain; charset={label}", "7bit"))
    assert parsed.text == "Réparé ✓"


def test_a_bogus_transfer_encoding_keeps_the_bytes() -> None:
    parsed = parse_message(mail(FRENCH.encode("cp1252"), "text/plain; charset=iso-8859-1", "8bits"))
    assert parsed.text == FRENCH


def test_base64_and_quoted_printable_bodies_with_wrong_labels() -> None:
    import base64
    import quopri

    b64 = parse_message(mail(base64.encodebytes(FRENCH.encode("utf-8")), "text/plain; charset=uft-8", "base64"))
    qp = parse_message(mail(quopri.encodestring(FRENCH.encode("cp1252")), "text/plain; charset=latin1",
                            "quoted-printable"))
    assert (b64.text, qp.text) == (FRENCH, FRENCH)


def test_text_encoded_twice_as_utf8_is_repaired() -> None:
    twice = FRENCH.encode("utf-8").decode("cp1252").encode("utf-8")
    assert parse_message(mail(twice, "text/plain; charset=utf-8")).text == FRENCH


@pytest.mark.parametrize("text", ["Câmara dos Deputados", "naïve façade", "Ça coûte 5 € à Montréal", "Ðe Øresund",
                                  "ÀÉÎÕÜ — «guillemets»"])
def test_legitimate_accents_are_not_repaired_away(text: str) -> None:
    assert decode_bytes(text.encode("utf-8"), "utf-8") == text


def test_html_without_a_mime_charset_uses_its_meta_charset() -> None:
    html = f'<html><head><meta charset="windows-1252"></head><body><p>{FRENCH}</p></body></html>'
    parsed = parse_message(mail(html.encode("cp1252"), "text/html"))
    assert (parsed.text, parsed.text_source) == (FRENCH, "html")


@pytest.mark.parametrize(("subject", "expected"), [
    (b"=?NONE?B?VEVTVA=?=", "TEST"),  # unknown charset, bad padding
    (b"=?utf-8?B?eHB0bw?=", "xpto"),  # no padding
    (b"=?uft-8?Q?caf=C3=A9?=", "café"),
    (b"=?iso-8859-1?Q?Fr\xf6sche?=", "Frösche"),  # raw 8-bit byte inside an encoded word
    (b"Forma\xe7\xe3o", "Formação"),  # raw latin-1 bytes
    (b"R\xc3\xa9par\xc3\xa9", "Réparé"),  # raw UTF-8 bytes
    (b"=?utf-8?B?w6k=?= =?utf-8?B?w6k=?=", "éé"),  # whitespace between encoded words goes
    (b"=?utf-8?B?4oKs?=", "€"),
    (b"=?utf-8?B?4g==?= =?utf-8?B?gqw=?=", "€"),  # a character split across two words
    (b"=?iso-8859-1?Q?Ville_de_Qu=E9bec?= NYC-26-000042", "Ville de Québec NYC-26-000042"),
])
def test_subjects_decode_whatever_the_encoded_words_got_wrong(subject: bytes, expected: str) -> None:
    raw = b"From: a@example.org\r\nSubject: " + subject + b"\r\n\r\nbody\r\n"
    assert parse_message(raw).subject == expected


@pytest.mark.parametrize(("label", "codec"), [
    ("UTF-8", "utf-8"), ("uft-8", "utf-8"), ('"utf-8"', "utf-8"), ("utf-8; format=flowed", "utf-8"),
    ("iso-8859-1", "cp1252"), ("us-ascii", "cp1252"), ("iso-8859-8-i", "iso8859-8"),
    ("unicode-1-1-utf-7", "utf-7"), ("ks_c_5601-1987", "cp949"), ("gb2312", "gb18030"),
    ("", None), (None, None), ("invalid-charset", None), ("NONE", None), ("rot13", None),
])
def test_charset_labels_are_repaired(label: str | None, codec: str | None) -> None:
    assert normalise_charset(label) == codec


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=400), label=st.sampled_from(["utf-8", "uft-8", "", "iso-2022-jp", "utf-7",
                                                             "x-unknown", "ks_c_5601-1987", "utf-16"]))
def test_decoding_never_raises(data: bytes, label: str) -> None:
    assert isinstance(decode_bytes(data, label), str)


def test_address_names_decode_without_splitting_on_decoded_commas() -> None:
    raw = (b'From: "Andr\xe9 Br\xe1s, Jr" <andre@example.org>\r\n'
           b"To: =?iso-8859-1?Q?Coordena=E7=E3o_de_Relacionamento=2C_Pesquisa?= <c@example.org>,\r\n"
           b' "KLAUS- H\xc3\x84NSCHEL" <>\r\n\r\nx\r\n')
    parsed = parse_message(raw)
    assert parsed.from_addr is not None
    assert (parsed.from_addr.name, parsed.from_addr.address) == ("André Brás, Jr", "andre@example.org")
    assert [(b.name, b.address) for b in parsed.to] == [
        ("Coordenação de Relacionamento, Pesquisa", "c@example.org"), ("KLAUS- HÄNSCHEL", "")]
