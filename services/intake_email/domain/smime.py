"""Unpack the content of an opaque S/MIME signed message (RFC 8551 §3.5.2, CMS SignedData RFC 5652 §5).

An opaque signed message carries its whole MIME entity inside the signature blob
(``application/pkcs7-mime; smime-type=signed-data``); a reader that does not unpack it sees one binary
attachment and loses the text. The signature is not verified: the content is what the sender wrote either
way, and trust in the sender comes from our mail server's DMARC verdict, not from a certificate.
"""

from __future__ import annotations

from asn1crypto import cms

PKCS7_MIME_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})


class SmimeUnreadable(ValueError):
    """The bytes are not a CMS SignedData with encapsulated content (enveloped-data, compressed-data,
    a detached signature, or damaged DER/BER)."""


def signed_content(data: bytes) -> bytes:
    """The encapsulated content (the inner MIME entity's bytes) of a DER- or BER-encoded CMS ContentInfo
    of type SignedData (RFC 5652 §5.2 ``encapContentInfo.eContent``).

    Raises `SmimeUnreadable` when `data` is not such a structure or holds no content.
    """
    try:
        info = cms.ContentInfo.load(data)
        kind = info["content_type"].native
        if kind != "signed_data":
            raise SmimeUnreadable(f"CMS content type {kind}, not signed-data")
        content = info["content"]["encap_content_info"]["content"].native
    except SmimeUnreadable:
        raise
    except Exception as exc:  # noqa: BLE001 - asn1crypto raises ValueError, TypeError and friends lazily
        raise SmimeUnreadable(f"not a CMS structure: {type(exc).__name__}") from exc
    if not content:
        raise SmimeUnreadable("signed-data without encapsulated content (a detached signature)")
    if not isinstance(content, bytes):
        raise SmimeUnreadable("encapsulated content is not an octet string")
    return content
