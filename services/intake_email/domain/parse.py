"""Parse one raw RFC 5322 message into what intake needs, whatever the sending client got wrong.

The stdlib `email` package (`policy.default`) splits the MIME tree; around it this module repairs what
real mail breaks: broken multipart boundaries, encoded words with unknown charsets or bad padding,
raw 8-bit header bytes, wrong body charsets, HTML-only mail, ``format=flowed``, RFC 2231 file names,
invalid dates. `parse_message` never raises: a message it cannot read at all comes back with its
`problems` listed and a Message-ID derived from the bytes, and the caller keeps the raw bytes.

Forwarded messages (``message/rfc822`` parts outside a delivery report) are read, not kept opaque:
their text is appended to `text` under a ``---------- Forwarded message ----------`` block (the
resident forwarded it because it is the substance), they are listed in `forwarded`, and their own
attachments join `attachments` with `forwarded=True`. The returned original inside a bounce is not
part of the text.

Signed mail is read like any other: the content of an opaque S/MIME signed message
(``application/pkcs7-mime; smime-type=signed-data``, or a ``.p7m`` file sent as octet-stream, RFC 8551
§3.2.2) is unpacked and parsed as the message's own MIME tree; every signature met is named in
`signatures` (never verified).
"""

from __future__ import annotations

import binascii
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Literal

from services.intake_email.domain.charsets import decode_bytes, repair_mojibake
from services.intake_email.domain.html import html_to_text
from services.intake_email.domain.images import IMAGE_EXTENSIONS, ImageUnreadable, image_content_type, \
    strip_image_metadata
from services.intake_email.domain.smime import PKCS7_MIME_TYPES, SmimeUnreadable, signed_content

MAX_MESSAGE_ID = 998
_MAX_DEPTH = 40
_SIGNATURE_TYPES = frozenset({"application/pkcs7-signature", "application/x-pkcs7-signature",
                              "application/pgp-signature"})
_ENCRYPTED_SMIME = frozenset({"enveloped-data", "authenveloped-data"})
_REPORT_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status", "message/feedback-report",
                           "message/disposition-notification", "message/global-disposition-notification"})
_RETURNED = frozenset({"message/rfc822", "message/global", "text/rfc822-headers", "message/rfc822-headers",
                       "message/global-headers"})
FORWARD_MARKER = "---------- Forwarded message ----------"


@dataclass(frozen=True)
class Mailbox:
    """One address of an address header: the addr-spec as written ("" if absent) and a decoded name."""

    address: str
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    """A non-text part: decoded file name (None if the part had none), MIME type, bytes.

    Images carry `metadata_removed=True` once EXIF/GPS/XMP were stripped (then `content` is the clean
    re-encoded image and `content_type` its real type); an image that could not be decoded keeps its
    raw bytes and is not `publishable`.
    """

    filename: str | None
    content_type: str
    content: bytes = field(repr=False)
    inline: bool = False
    content_id: str | None = None
    forwarded: bool = False
    metadata_removed: bool = False

    @property
    def is_image(self) -> bool:
        """An image by MIME type, or by file extension when sent as application/octet-stream."""
        return is_image_part(self.content_type, self.filename)

    @property
    def publishable(self) -> bool:
        """True unless this is an image whose metadata could not be removed."""
        return not self.is_image or self.metadata_removed


@dataclass(frozen=True)
class ForwardedMessage:
    """A message/rfc822 part forwarded by the sender, as read."""

    from_addr: Mailbox | None
    subject: str
    date: datetime | None
    message_id: str | None
    text: str


@dataclass(frozen=True)
class DeliveryStatus:
    """One per-recipient block of a ``message/delivery-status`` part (RFC 3464 §2.3)."""

    final_recipient: str | None
    original_recipient: str | None
    action: str
    status: str
    diagnostic: str


@dataclass(frozen=True)
class ParsedEmail:
    """What intake needs of one message. Header values are decoded text; ids keep their ``<>``.

    `date` is aware (UTC offset from the header) or None when missing or unreadable; `text` is the
    body as the reader sees it (text/plain preferred, else HTML converted), forwarded messages
    appended; `headers` are the decoded top-level headers in order, for classification; `signatures`
    names each signature present ("S/MIME opaque signed-data", "S/MIME detached signature", "OpenPGP
    signature"), none of them verified.
    """

    message_id: str
    message_id_synthesised: bool = False
    from_addr: Mailbox | None = None
    to: tuple[Mailbox, ...] = ()
    cc: tuple[Mailbox, ...] = ()
    reply_to: tuple[Mailbox, ...] = ()
    subject: str = ""
    date: datetime | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    text: str = ""
    text_source: Literal["plain", "html", "none"] = "none"
    attachments: tuple[Attachment, ...] = ()
    forwarded: tuple[ForwardedMessage, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    content_type: str = "text/plain"
    report_type: str | None = None
    report_parts: tuple[str, ...] = ()
    delivery_status: tuple[DeliveryStatus, ...] = ()
    signatures: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), decoded, or None."""
        values = self.header_values(name)
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive), decoded, top first."""
        want = name.lower()
        return [value for key, value in self.headers if key.lower() == want]


def is_image_part(content_type: str, filename: str | None) -> bool:
    """An image by MIME type, or by file extension when sent as application/octet-stream."""
    if content_type.lower().startswith("image/"):
        return True
    if filename and content_type.lower() in ("application/octet-stream", "application/x-download", ""):
        dot = filename.rfind(".")
        return dot >= 0 and filename[dot:].lower() in IMAGE_EXTENSIONS
    return False


def synthetic_message_id(raw: bytes) -> str:
    """A stable Message-ID for a message that has none (or an unusable one): a hash of its bytes."""
    return f"<{hashlib.sha256(raw).hexdigest()[:40]}@message-id.omni311.invalid>"


def parse_message(raw: bytes) -> ParsedEmail:
    """Parse raw RFC 5322 bytes (CRLF or LF); never raises, for any input.

    On a total failure the result has only a synthetic `message_id` and `problems`; on partial
    failures (a part that cannot be decoded, an unreadable image or date) what could be read is
    returned and each failure is listed in `problems`.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raw = str(raw or "").encode("utf-8", "surrogateescape")
    raw = bytes(raw)
    problems: list[str] = []
    try:
        return _parse(raw, problems)
    except Exception as exc:  # noqa: BLE001 - the contract is: never raise, list the problem
        problems.append(f"unparseable message: {type(exc).__name__}: {exc}"[:300])
        return ParsedEmail(message_id=synthetic_message_id(raw), message_id_synthesised=True,
                           problems=tuple(problems))


# --- the message ----------------------------------------------------------------------------------------


def _parse(raw: bytes, problems: list[str]) -> ParsedEmail:
    msg = _message_from_bytes(raw, problems)
    headers = tuple(_decoded_headers(msg, problems))
    message_id = _message_id(_raw_header(msg, "Message-ID"))
    synthesised = message_id is None
    if synthesised:
        message_id = synthetic_message_id(raw)
    from_boxes = _mailboxes(msg, "From")
    body = _Body(problems)
    _guard(problems, "body", lambda: body.walk(msg, forwarded=False, depth=0))
    content_type = _guard(problems, "content type", msg.get_content_type) or "text/plain"
    report_type = None
    if content_type == "multipart/report":
        report_type = (_guard(problems, "report type", lambda: str(msg.get_param("report-type") or "")) or "").lower() \
            or None
    for kind in sorted({type(d).__name__ for part in _guard(problems, "defects", lambda: list(msg.walk())) or []
                        for d in getattr(part, "defects", [])}):
        problems.append(f"MIME defect: {kind}")
    subject = _decode_header_value(_raw_header(msg, "Subject") or "")
    return ParsedEmail(
        message_id=message_id,
        message_id_synthesised=synthesised,
        from_addr=from_boxes[0] if from_boxes else None,
        to=_mailboxes(msg, "To"),
        cc=_mailboxes(msg, "Cc"),
        reply_to=_mailboxes(msg, "Reply-To"),
        subject=subject,
        date=_parse_date(_raw_header(msg, "Date"), problems),
        in_reply_to=_message_ids(_raw_header(msg, "In-Reply-To")),
        references=_message_ids(_raw_header(msg, "References")),
        text=body.text(),
        text_source=body.source(),
        attachments=tuple(body.attachments),
        forwarded=tuple(body.forwarded),
        headers=headers,
        content_type=content_type,
        report_type=report_type,
        report_parts=tuple(body.report_parts),
        delivery_status=tuple(body.delivery_status),
        signatures=tuple(dict.fromkeys(body.signatures)),
        problems=tuple(dict.fromkeys(problems)),
    )


def _guard(problems: list[str], what: str, fn):  # noqa: ANN001, ANN202 - tiny local helper
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one unreadable piece must not lose the message
        problems.append(f"{what}: {type(exc).__name__}: {exc}"[:300])
        return None


def _message_from_bytes(raw: bytes, problems: list[str]) -> Message:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    if _lost_boundary(msg):
        repaired = _repair_boundaries(raw)
        if repaired != raw:
            again = BytesParser(policy=policy.default).parsebytes(repaired)
            if not _lost_boundary(again):
                problems.append("repaired an illegal multipart boundary")
                return again
    return msg


def _lost_boundary(msg: Message) -> bool:
    from email.errors import StartBoundaryNotFoundDefect

    return any(isinstance(d, StartBoundaryNotFoundDefect) for part in msg.walk() for d in part.defects)


_BOUNDARY_PARAM = re.compile(rb'(?i)(boundary\s*=\s*)(?:"([^"\r\n]*)"|([^\s;"]+))')
_TSPECIALS = re.compile(rb'[()<>@,;:\\"/\[\]?=\x80-\xff]')


def _repair_boundaries(raw: bytes) -> bytes:
    """Rename boundaries that the parser cannot use (8-bit bytes, unquoted ``=``) to a safe token,
    in the Content-Type parameter and on every delimiter line."""
    out = raw
    for m in list(_BOUNDARY_PARAM.finditer(raw)):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        if not value or not (_TSPECIALS.search(value) or m.group(3) is not None and b"=" in value):
            continue
        token = b"omni311-" + hashlib.sha1(value).hexdigest()[:24].encode()  # noqa: S324 - a name, not security
        out = out.replace(m.group(0), m.group(1) + b'"' + token + b'"', 1)
        out = re.sub(rb"(?m)^--" + re.escape(value) + rb"(--)?([ \t]*\r?)$", b"--" + token + rb"\1\2", out)
    return out


# --- headers --------------------------------------------------------------------------------------------


def _raw_header(msg: Message, name: str) -> str | None:
    want = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == want:
            return value if isinstance(value, str) else str(value)
    return None


def _decoded_headers(msg: Message, problems: list[str]):  # noqa: ANN202 - generator of pairs
    for key, value in msg.raw_items():
        try:
            yield str(key), _decode_header_value(value if isinstance(value, str) else str(value))
        except Exception as exc:  # noqa: BLE001
            problems.append(f"header {key}: {type(exc).__name__}"[:300])


_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def _unfold(value: str) -> str:
    return _FOLD.sub("", value).replace("\r", "").replace("\n", " ").strip()


def _has_8bit(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _raw_text(value: str) -> str:
    """Header text outside encoded words: raw 8-bit bytes (kept as surrogates by the parser) are
    decoded as UTF-8, else windows-1252."""
    if not value:
        return ""
    if _has_8bit(value):
        return decode_bytes(value.encode("ascii", "surrogateescape"), None)
    return value


def _decode_header_value(value: str) -> str:
    """RFC 2047 decoding that tolerates what real mail does: unknown charsets (``=?NONE?B?...``),
    missing base64 padding, raw 8-bit bytes inside or outside encoded words, multi-byte characters
    split across adjacent words; never raises."""
    value = _unfold(value)
    if not value:
        return ""
    pieces: list[str] = []
    pending: list[tuple[str, bytes]] = []  # adjacent encoded words, joined before decoding
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        between = value[pos:m.start()]
        if not (pending and not between.strip()):  # whitespace between two encoded words is dropped
            if pending:
                pieces.append(_flush(pending))
            pieces.append(_raw_text(between))
        charset = m.group(1).split("*", 1)[0]
        data = m.group(3).encode("ascii", "surrogateescape")
        data = _b_decode(data) if m.group(2) in "bB" else _q_decode(data)
        if pending and pending[-1][0].lower() != charset.lower():
            pieces.append(_flush(pending))
        pending.append((charset, data))
        pos = m.end()
    if pending:
        pieces.append(_flush(pending))
    pieces.append(_raw_text(value[pos:]))
    text = "".join(pieces)
    text = "".join(ch if ord(ch) >= 32 and ord(ch) != 127 else " " for ch in text)
    return repair_mojibake(" ".join(text.split()))


def _flush(pending: list[tuple[str, bytes]]) -> str:
    charset = pending[0][0]
    data = b"".join(chunk for _, chunk in pending)
    pending.clear()
    return decode_bytes(data, charset)


def _b_decode(data: bytes) -> bytes:
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    data += b"=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        try:
            return binascii.a2b_base64(data[: len(data) - len(data) % 4])
        except (binascii.Error, ValueError):
            return data


def _q_decode(data: bytes) -> bytes:
    data = data.replace(b"_", b" ")
    return re.sub(rb"=([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), data)


def _mailboxes(msg: Message, name: str) -> tuple[Mailbox, ...]:
    """The addresses of header `name`: the structure from the raw value (encoded words are atoms, so a
    decoded comma cannot split a name), then each display name decoded on its own."""
    raw = _raw_header(msg, name)
    if raw is None or not raw.strip():
        return ()
    try:
        pairs = email.utils.getaddresses([_unfold(raw)])
    except Exception:  # noqa: BLE001
        pairs = []
    boxes = []
    for display, address in pairs:
        address = _raw_text(address).strip().strip("<>").strip()
        display = _decode_header_value(display).strip().strip('"').strip()
        if address or display:
            boxes.append(Mailbox(address=address, name=display))
    if not boxes:
        found = re.findall(r"[^\s<>@,;:\"()\[\]]+@[^\s<>@,;:\"()\[\]]+", _raw_text(raw))
        boxes = [Mailbox(address=a) for a in found]
    return tuple(boxes)


_MSGID = re.compile(r"<\s*([^<>\s]+?)\s*>")


def _message_id(raw: str | None) -> str | None:
    """The Message-ID in its ``<id>`` form; a bare id gets its brackets back; None when unusable."""
    if raw is None:
        return None
    value = _raw_text(_unfold(raw))
    m = _MSGID.search(value)
    token = m.group(1) if m else (value.split()[0].strip("<>") if value.split() else "")
    token = "".join(ch for ch in token if 32 < ord(ch) < 127 and ch not in "<>")
    if not token or len(token) + 2 > MAX_MESSAGE_ID:
        return None
    return f"<{token}>"


def _message_ids(raw: str | None) -> tuple[str, ...]:
    """The ids of In-Reply-To/References, in order, without duplicates; bare ids with an ``@`` too."""
    if not raw:
        return ()
    value = _raw_text(_unfold(raw))
    ids = [f"<{m}>" for m in _MSGID.findall(value)]
    if not ids:
        ids = [f"<{tok.strip('<>,')}>" for tok in value.split() if "@" in tok and tok.strip("<>,")]
    return tuple(dict.fromkeys(i for i in ids if len(i) <= MAX_MESSAGE_ID))


_ZONE = re.compile(r"([+-]\d{4}|\b(?:UT|UTC|GMT|Z|[ECMP][SD]T)\b)\s*(\([^)]*\))?\s*$", re.IGNORECASE)


def _parse_date(raw: str | None, problems: list[str]) -> datetime | None:
    """The Date header as an aware datetime; None (and a problem) when missing a usable time zone or
    unreadable, e.g. ``H0500``; odd but well-formed offsets such as ``-0459`` are kept."""
    if not raw:
        return None
    value = _raw_text(_unfold(raw))
    try:
        parts = email.utils.parsedate_tz(value)
        if not parts or not _ZONE.search(value):
            problems.append(f"unreadable Date: {value[:80]}")
            return None
        offset = parts[9] or 0
        return datetime(*parts[:6], tzinfo=timezone(timedelta(seconds=offset)))
    except (ValueError, TypeError, OverflowError, IndexError):
        problems.append(f"unreadable Date: {value[:80]}")
        return None


# --- the body -------------------------------------------------------------------------------------------


class _Body:
    """Walks the MIME tree once: body text, attachments, forwarded messages and report parts."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        self.texts: list[tuple[str, str]] = []
        self.attachments: list[Attachment] = []
        self.forwarded: list[ForwardedMessage] = []
        self.report_parts: list[str] = []
        self.delivery_status: list[DeliveryStatus] = []
        self.signatures: list[str] = []
        self._seen: set[bytes] = set()

    def text(self) -> str:
        return "\n\n".join(text for _, text in self.texts if text.strip()).strip("\n")

    def source(self) -> Literal["plain", "html", "none"]:
        kinds = {kind for kind, text in self.texts if text.strip() and kind != "forward"}
        return "plain" if "plain" in kinds else "html" if "html" in kinds else "none"

    def walk(self, part: Message, *, forwarded: bool, depth: int, text: bool = True) -> None:
        if depth > _MAX_DEPTH:
            self.problems.append("MIME tree too deep; the rest was skipped")
            return
        ctype = _content_type(part)
        if ctype in ("message/rfc822", "message/global"):
            if text:
                self._forwarded(part, depth)
            return
        if ctype in _REPORT_PARTS:
            self.report_parts.append(ctype)
            if ctype in ("message/delivery-status", "message/global-delivery-status"):
                self.delivery_status.extend(_delivery_status(part))
            return
        if part.is_multipart():
            children = [p for p in part.get_payload() if isinstance(p, Message)]
            if ctype == "multipart/alternative":
                chosen = _choose_alternative(children)
                for child in children:
                    self.walk(child, forwarded=forwarded, depth=depth + 1, text=text and child is chosen)
            elif ctype == "multipart/report":
                for child in children:
                    if _content_type(child) in _RETURNED:
                        continue  # the returned original of a bounce is not this message's text
                    self.walk(child, forwarded=forwarded, depth=depth + 1, text=text)
            elif ctype == "multipart/encrypted":
                self.problems.append("encrypted message: content not readable")
            else:
                for child in children:
                    self.walk(child, forwarded=forwarded, depth=depth + 1, text=text)
            return
        if ctype in _SIGNATURE_TYPES:
            self.signatures.append("OpenPGP signature" if ctype == "application/pgp-signature"
                                   else "S/MIME detached signature")
            return
        if ctype in _RETURNED:
            return
        if self._opaque_signed(part, ctype, forwarded=forwarded, depth=depth, text=text):
            return
        if ctype.startswith("multipart/"):
            ctype = "text/plain"  # a multipart whose boundary never came: its payload is all there is
        if _is_body_text(part, ctype):
            if text:
                self._text(part, ctype)
            return
        self._attachment(part, ctype, forwarded)

    def _opaque_signed(self, part: Message, ctype: str, *, forwarded: bool, depth: int, text: bool) -> bool:
        """Walk the content of an opaque S/MIME signed part as if it stood in its place; False (the part is
        then kept as an attachment) when it is not one or cannot be unpacked."""
        filename = (_guard([], "file name", part.get_filename) or "").lower()
        octet_p7m = ctype in ("application/octet-stream", "") and filename.endswith(".p7m")
        if ctype not in PKCS7_MIME_TYPES and not octet_p7m:
            return False
        smime_type = str(_guard([], "smime-type", lambda: part.get_param("smime-type")) or "").lower()
        if smime_type in _ENCRYPTED_SMIME:
            self.problems.append(f"encrypted message (S/MIME {smime_type}): content not readable")
            return False
        if smime_type not in ("", "signed-data"):
            return False  # certs-only, compressed-data: an attachment like any file
        try:
            data = part.get_payload(decode=True) or b""
            content = signed_content(bytes(data) if isinstance(data, (bytes, bytearray)) else b"")
        except SmimeUnreadable as exc:
            if smime_type == "signed-data":
                self.problems.append(f"S/MIME signed-data not readable, kept as an attachment: {exc}"[:300])
            return False
        inner = BytesParser(policy=policy.default).parsebytes(content)
        self.signatures.append("S/MIME opaque signed-data")
        self.walk(inner, forwarded=forwarded, depth=depth + 1, text=text)
        return True

    def _text(self, part: Message, ctype: str) -> None:
        value = _part_text(part, ctype, self.problems)
        self.texts.append(("html" if ctype == "text/html" else "plain", value))

    def _forwarded(self, part: Message, depth: int) -> None:
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        if not isinstance(inner, Message):
            return
        sub = _Body(self.problems)
        sub.walk(inner, forwarded=True, depth=depth + 1)
        boxes = _mailboxes(inner, "From")
        fwd = ForwardedMessage(
            from_addr=boxes[0] if boxes else None,
            subject=_decode_header_value(_raw_header(inner, "Subject") or ""),
            date=_parse_date(_raw_header(inner, "Date"), []),
            message_id=_message_id(_raw_header(inner, "Message-ID")),
            text=sub.text(),
        )
        self.forwarded.append(fwd)
        for attachment in sub.attachments:
            self._keep(attachment)
        head = [FORWARD_MARKER]
        if fwd.from_addr:
            who = f"{fwd.from_addr.name} <{fwd.from_addr.address}>" if fwd.from_addr.name else fwd.from_addr.address
            head.append(f"From: {who}")
        date = _raw_header(inner, "Date")
        if date:
            head.append(f"Date: {_raw_text(_unfold(date))}")
        if fwd.subject:
            head.append(f"Subject: {fwd.subject}")
        self.texts.append(("forward", "\n".join(head) + "\n\n" + fwd.text))

    def _attachment(self, part: Message, ctype: str, forwarded: bool) -> None:
        try:
            data = part.get_payload(decode=True) or b""
        except Exception as exc:  # noqa: BLE001
            self.problems.append(f"attachment not decodable: {type(exc).__name__}")
            data = b""
        if not isinstance(data, bytes):
            data = bytes(str(data), "utf-8", "surrogateescape")
        filename = _filename(part, self.problems)
        disposition = _guard(self.problems, "disposition", part.get_content_disposition)
        cid = _message_id(_raw_header(part, "Content-ID"))
        removed = False
        if is_image_part(ctype, filename) and data:
            try:
                data = strip_image_metadata(data, ctype)
                ctype = image_content_type(data) or ctype
                removed = True
            except ImageUnreadable as exc:
                self.problems.append(f"image {filename or ctype} kept unpublished: {exc}"[:300])
        self._keep(Attachment(filename=filename, content_type=ctype, content=data, inline=disposition == "inline",
                              content_id=cid, forwarded=forwarded, metadata_removed=removed))

    def _keep(self, attachment: Attachment) -> None:
        digest = hashlib.sha256(attachment.content).digest()
        if attachment.content and digest in self._seen:
            return
        self._seen.add(digest)
        self.attachments.append(attachment)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:  # noqa: BLE001
        return "application/octet-stream"


def _is_body_text(part: Message, ctype: str) -> bool:
    if ctype not in ("text/plain", "text/html"):
        return False
    try:
        disposition = part.get_content_disposition()
        filename = part.get_filename()
    except Exception:  # noqa: BLE001
        return True
    if disposition == "attachment":
        return False
    return not filename or disposition == "inline"


def _choose_alternative(children: list[Message]) -> Message | None:
    """text/plain with content, else HTML, else a nested multipart holding text, else the last one."""
    plain = [c for c in children if _content_type(c) == "text/plain" and _is_body_text(c, "text/plain")]
    for child in plain:
        if _part_text(child, "text/plain", []).strip():
            return child
    for child in children:
        if _content_type(child) == "text/html":
            return child
    for child in children:
        if child.is_multipart():
            return child
    return children[-1] if children else None


def _part_text(part: Message, ctype: str, problems: list[str]) -> str:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"text part not decodable: {type(exc).__name__}")
        return ""
    if data is None:
        payload = part.get_payload()
        data = payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else b""
    try:
        charset = part.get_param("charset")
    except Exception:  # noqa: BLE001
        charset = None
    charset = str(charset) if charset else None
    if ctype == "text/html" and not charset:
        sniffed = re.search(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9_:.-]+)", data[:4096], re.IGNORECASE)
        charset = sniffed.group(1).decode("ascii") if sniffed else None
    text = decode_bytes(data, charset)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if ctype == "text/html":
        return html_to_text(text)
    try:
        flowed = str(part.get_param("format") or "").lower() == "flowed"
        delsp = str(part.get_param("delsp") or "").lower() == "yes"
    except Exception:  # noqa: BLE001
        flowed = delsp = False
    if flowed:
        text = unflow(text, delsp=delsp)
    return "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32 and ord(ch) != 127)


def unflow(text: str, *, delsp: bool = False) -> str:
    """Join ``format=flowed`` soft line breaks (RFC 3676 §4): a line ending in a space continues on the
    next line of the same quote depth; space-stuffing is removed; ``-- `` stays a hard line."""
    out: list[str] = []
    buf: str | None = None
    buf_depth = 0
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if buf is not None and depth != buf_depth:
            out.append(_quoted(buf, buf_depth))
            buf = None
        buf = content if buf is None else buf + content
        buf_depth = depth
        if not flowed:
            out.append(_quoted(buf, buf_depth))
            buf = None
    if buf is not None:
        out.append(_quoted(buf, buf_depth))
    return "\n".join(out)


def _quoted(text: str, depth: int) -> str:
    return (">" * depth + " " + text) if depth else text


def _filename(part: Message, problems: list[str]) -> str | None:
    try:
        name = part.get_filename()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"file name: {type(exc).__name__}")
        name = None
    if name is None:
        return None
    name = str(name)
    if _has_8bit(name) or "\ufffd" in name:
        for header in ("Content-Disposition", "Content-Type"):
            raw = _raw_header(part, header) or ""
            m = re.search(r'(?i)\b(?:file)?name\s*=\s*"?([^";]+)', raw)
            if m and _has_8bit(m.group(1)):
                name = _raw_text(m.group(1))
                break
    if "=?" in name:
        name = _decode_header_value(name)
    raw_disposition = _raw_header(part, "Content-Disposition") or _raw_header(part, "Content-Type") or ""
    if "\\" in raw_disposition and "\\" not in name:
        # a quoted Windows path: the parser unescaped "C:\\TEMP\\x.png" into "C:TEMPx.png"
        m = re.search(r'(?i)\bfilename\s*=\s*"([^"]*)"', raw_disposition)
        if m and "\\" in m.group(1):
            name = _raw_text(m.group(1))
    name = repair_mojibake(name)
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if ord(ch) >= 32 and ord(ch) != 127).strip().strip(".") or None
    return name[:255] if name else None


def _delivery_status(part: Message) -> list[DeliveryStatus]:
    """Per-recipient blocks of a message/delivery-status part (its payload is a list of header blocks)."""
    blocks = part.get_payload()
    if not isinstance(blocks, list):
        text = blocks if isinstance(blocks, str) else ""
        blocks = [BytesParser(policy=policy.default).parsebytes(chunk.strip().encode("utf-8", "surrogateescape"))
                  for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]
    found: list[DeliveryStatus] = []
    for block in blocks:
        if not isinstance(block, Message):
            continue
        final = _address_field(_raw_header(block, "Final-Recipient"))
        original = _address_field(_raw_header(block, "Original-Recipient"))
        action = _raw_text(_unfold(_raw_header(block, "Action") or "")).lower()
        if not (final or original or action):
            continue
        found.append(DeliveryStatus(
            final_recipient=final, original_recipient=original, action=action,
            status=_raw_text(_unfold(_raw_header(block, "Status") or "")).split(" ")[0],
            diagnostic=_raw_text(_unfold(_raw_header(block, "Diagnostic-Code") or ""))[:500],
        ))
    return found


def _address_field(raw: str | None) -> str | None:
    """``rfc822; user@example.org`` → ``user@example.org``."""
    if not raw:
        return None
    value = _raw_text(_unfold(raw))
    value = value.split(";", 1)[1] if ";" in value else value
    value = value.strip().strip("<>").strip()
    return value or None
