"""Pure email rules, no I/O: parse raw mail, keep only the new text of a reply, tell resident mail from
automatic mail, read our server's DMARC verdict, and build the intake payload.

Typical use by the adapter, per raw message::

    parsed = parse_message(raw)
    verdict = classify(parsed)
    if verdict.kind == "message":
        text = new_text(parsed.text, forward=is_forward(parsed.subject))
        event = to_intake(parsed, text, now, detect_language(text or parsed.subject), media_urls,
                          authenticity=authenticity(parsed, settings.authserv_id))
    elif verdict.kind == "bounce":
        events = to_bounces(parsed, verdict, now)  # permanent failures only
"""

from services.intake_email.domain.charsets import decode_bytes, normalise_charset, repair_mojibake
from services.intake_email.domain.classify import Classification, authenticity, classify, failed_recipients
from services.intake_email.domain.html import html_to_text
from services.intake_email.domain.images import ImageUnreadable, strip_image_metadata
from services.intake_email.domain.intake import case_number_hint, contact_key, is_forward, to_bounces, to_intake
from services.intake_email.domain.language import detect_language
from services.intake_email.domain.parse import (
    Attachment,
    DeliveryStatus,
    ForwardedMessage,
    Mailbox,
    ParsedEmail,
    parse_message,
    synthetic_message_id,
    unflow,
)
from services.intake_email.domain.reply import new_text

__all__ = [
    "Attachment", "Classification", "DeliveryStatus", "ForwardedMessage", "ImageUnreadable", "Mailbox",
    "ParsedEmail", "authenticity", "case_number_hint", "classify", "contact_key", "decode_bytes",
    "detect_language", "failed_recipients", "html_to_text", "is_forward", "new_text", "normalise_charset",
    "parse_message", "repair_mojibake", "strip_image_metadata", "synthetic_message_id", "to_bounces", "to_intake",
    "unflow",
]
