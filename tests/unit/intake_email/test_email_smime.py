"""Signed mail is read like any other: the content of an opaque S/MIME signed message is unpacked (text,
photos) and becomes the case's description, the signature's presence is noted (never verified), and a
blob that is not signed-data is kept as an attachment with the problem listed. The messages are signed
here with `cryptography` and a self-signed certificate made for the test."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from services.intake_email.domain import parse_message
from services.intake_email.domain.decisions import CityMailbox, decide
from shared.events import MessageReceived

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REPORT = "Pothole in front of 12 Elm Street, about 30 cm wide."
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
       b"\xaeB`\x82")
CITY = CityMailbox(producer="intake_email", authserv_id="mx.omni311.test",
                   own_addresses=frozenset({"311@omni311.test"}),
                   media_url=lambda media_id: f"https://311.example.org/media/{media_id}")


@pytest.fixture(scope="module")
def signer() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Jane Roe"),
                      x509.NameAttribute(NameOID.EMAIL_ADDRESS, "jane@resident.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=365)).sign(key, hashes.SHA256()))
    return cert, key


def sign(content: bytes, signer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> bytes:
    """A DER CMS SignedData holding `content` (opaque: the content travels inside the signature)."""
    cert, key = signer
    return (pkcs7.PKCS7SignatureBuilder().set_data(content).add_signer(cert, key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))


def opaque(inner: bytes, signer, *, content_type: str = 'application/pkcs7-mime; smime-type=signed-data; '
           'name="smime.p7m"', blob: bytes | None = None) -> bytes:  # noqa: ANN001 - the fixture's pair
    """An Outlook-style opaque signed mail: top-level headers around one base64 ``smime.p7m``."""
    der = sign(inner, signer) if blob is None else blob
    body = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (b"From: Jane Roe <jane@resident.test>\r\nTo: 311@omni311.test\r\nSubject: Pothole\r\n"
            b"Message-ID: <signed1@resident.test>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: " + content_type.encode() + b"\r\nContent-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n' + body)


ONE_LINE = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n" + REPORT.encode() + b"\r\n"


def test_an_opaque_signed_one_line_report_becomes_the_case_description(signer) -> None:  # noqa: ANN001
    parsed, d = decide(opaque(ONE_LINE, signer), CITY, NOW)
    assert parsed is not None and parsed.text.strip() == REPORT
    assert parsed.signatures == ("S/MIME opaque signed-data",)
    assert d.kind == "message" and "signed (S/MIME opaque signed-data; not verified)" in d.reason
    (env,) = d.envelopes
    assert env.payload(MessageReceived).description == REPORT
    assert d.attachments == []  # the signature blob is not a file of the resident's


@pytest.mark.parametrize("content_type", [
    'application/x-pkcs7-mime; name="smime.p7m"',  # older clients: x- type, no smime-type
    'application/octet-stream; name="smime.p7m"',  # a gateway relabelled it (RFC 8551 §3.2.2)
])
def test_other_labels_of_an_opaque_signed_message_are_unpacked_too(signer, content_type: str) -> None:  # noqa: ANN001
    parsed = parse_message(opaque(ONE_LINE, signer, content_type=content_type))
    assert (parsed.text.strip(), parsed.attachments) == (REPORT, ())


def test_the_photo_inside_an_opaque_signed_message_is_kept_as_media(signer) -> None:  # noqa: ANN001
    inner = EmailMessage()
    inner.set_content(REPORT)
    inner.add_attachment(PNG, maintype="image", subtype="png", filename="pothole.png")
    _, d = decide(opaque(inner.as_bytes(), signer), CITY, NOW)
    assert d.kind == "message" and len(d.media) == 1 and d.media[0].attachment.filename == "pothole.png"
    event = d.envelopes[0].payload(MessageReceived)
    assert event.description == REPORT and len(event.media_url) == 1


def test_a_clear_signed_message_notes_its_detached_signature(signer) -> None:  # noqa: ANN001
    cert, key = signer
    raw = (pkcs7.PKCS7SignatureBuilder().set_data(ONE_LINE).add_signer(cert, key, hashes.SHA256())
           .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature]))
    raw = (b"From: Jane Roe <jane@resident.test>\r\nTo: 311@omni311.test\r\nSubject: Pothole\r\n"
           b"Message-ID: <signed2@resident.test>\r\n" + raw)
    parsed = parse_message(raw)
    assert parsed.text.strip() == REPORT and parsed.signatures == ("S/MIME detached signature",)


def test_a_damaged_signed_blob_is_kept_as_an_attachment_with_the_problem_listed(signer) -> None:  # noqa: ANN001
    parsed, d = decide(opaque(b"", signer, blob=b"\x30\x03not cms at all"), CITY, NOW)
    assert parsed is not None and parsed.signatures == ()
    assert [a.filename for a in parsed.attachments] == ["smime.p7m"]
    assert any(p.startswith("S/MIME signed-data not readable") for p in parsed.problems)
    assert d.kind == "message" and d.envelopes[0].payload(MessageReceived).description == "Pothole"


def test_an_encrypted_message_is_listed_as_unreadable_and_its_blob_kept() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "City 311")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    der = pkcs7.PKCS7EnvelopeBuilder().set_data(ONE_LINE).add_recipient(cert).encrypt(serialization.Encoding.DER, [])
    parsed = parse_message(opaque(b"", None, blob=der,
                                  content_type='application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"'))
    assert "encrypted message (S/MIME enveloped-data): content not readable" in parsed.problems
    assert [a.filename for a in parsed.attachments] == ["smime.p7m"] and parsed.signatures == ()
