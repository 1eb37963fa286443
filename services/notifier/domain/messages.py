"""What to tell a reporter, in which language, and how an email is shaped (RFC 5322, RFC 3834).

Pure: takes the facts, `now` and the Message-ID (made by the caller), returns an
`email.message.EmailMessage` built with `policy.default`.
"""

from __future__ import annotations

import email.errors
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal
from uuid import UUID

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

Kind = Literal["acknowledgement", "merged", "status_changed", "closed", "public_update", "reply", "unmerged",
               "escalation", "followed", "survey_invitation", "location_confirm", "location_not_found",
               "text_request", "link_code"]
"""What a notice is: the four told since the first version (`notification.recorded`'s `kind`), a staff
member's public update or reply, the undoing of a merge, an escalation email to a supervisor, the
confirmation a new follower of a case gets, the satisfaction survey's invitation after closure, the
question "Did you mean <matched>?" when the router placed a written address without enough confidence,
the question "We could not find <matched>. Where is it?" when it found nothing for a written place
(`location_not_found`; `matched` is then the place as written), and the request to write a report as text that answers a message kind we cannot read
(`intake.message_unsupported`: no case, so its `service_request_id` is empty; chat channels only), and
a code that links a resident's email address and phone number into one profile (`link_code`: no case
either; by SMS and by email, docs/integrations.md section 3)."""
SUPPORTED_LANGUAGES = ("en", "fr")


# C0/C1 controls and Unicode line/paragraph separators: none belongs in a one-line header.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def header_name(name: str | None) -> str:
    """A display name that is safe in an address header: one line, no RFC 2047 syntax.

    Names come from residents. CR/LF make `email.headerregistry` refuse the header (the whole
    message was lost); and the email package decodes ``=?charset?q?...?=`` inside a display name
    when it folds the header and writes the result unquoted, so a "name" could put
    ``Bcc: x@y`` or another address on the wire. Controls become spaces, whitespace is collapsed and
    ``=?`` is split to ``= ?``.
    """
    return " ".join(_CONTROLS.sub(" ", name or "").split()).replace("=?", "= ?")


def recipient_key(channel: str, address: str) -> str:
    """A stable, non-reversible key of a channel address (e.g. an email, case-folded)."""
    return hashlib.sha256(f"{channel}:{address.strip().casefold()}".encode()).hexdigest()[:32]


def delivery_message_id(delivery_id: int, cause_event_id: UUID, mail_from: str) -> str:
    """The Message-ID of the email of delivery `delivery_id` (its `deliveries.id`), caused by `cause_event_id`:
    ``<omni311.d<id>.<cause hex>@<mail_from's domain>>`` (RFC 5322 §3.6.4 msg-id; ``localhost`` when
    `mail_from` has no domain). The same delivery always has the same id, so a copy sent twice (a resend by
    hand, a mail server's retry) is recognisable by the receiver as one message; the cause (a UUID) keeps
    it unique when a database is rebuilt and its delivery ids start again."""
    domain = mail_from.rpartition("@")[2] if "@" in mail_from else "localhost"
    return f"<omni311.d{delivery_id}.{cause_event_id.hex}@{domain or 'localhost'}>"


def language_of(hint: str | None, default: str = "en") -> str:
    """The template language for a reporter: French or English when their message was, else `default`
    (the jurisdiction's first locale: Montréal writes to a reporter of unknown language in French),
    English when `default` has no templates."""
    hint = (hint or "").lower()
    for language in SUPPORTED_LANGUAGES:
        if hint.startswith(language):
            return language
    return default if default in SUPPORTED_LANGUAGES else "en"


@dataclass(frozen=True)
class Escalation:
    """What a supervisor is told of an escalation (`case.escalated`): the rule and its `trigger` (``warning``
    or ``breach``), the service, the due time already written in the jurisdiction's time zone (`due`, e.g.
    ``2025-03-17 11:00 EDT``), what the rule did (the `priority` and `queue` it set, None: unchanged, with
    the ones before) and the `link` to the case page in the staff workbench."""

    rule_id: str
    trigger: str
    link: str
    service_name: str | None = None
    due: str | None = None
    priority: int | None = None
    previous_priority: int | None = None
    queue: str | None = None
    previous_queue: str | None = None


@dataclass(frozen=True)
class Notice:
    """One thing to tell one reporter (or, for an escalation, one supervisor) about one case.

    `text` is what staff wrote (a public update or a reply) or the workflow's text for a status (the
    jurisdiction's `texts[language]`); `escalation` the facts of an escalation email; `link` the survey's
    address (a survey invitation: ``{portal}/survey/{token}``), never shortened; `follower` true when the
    recipient follows the case rather than reported it; `matched` the place a `location_confirm` asks
    about (the geocoder's matched form, e.g. ``1200 MAIN ST``); `ask_location` true when an
    acknowledgement also asks where the problem is (a chat report that came without any place,
    `notices.asks_where`); `code` a profile link code and `valid_minutes` how long it is valid.
    """

    kind: Kind
    service_request_id: str
    language: str
    display_name: str | None = None
    merged_into_service_request_id: str | None = None
    status_notes: str | None = None
    description: str | None = None
    text: str | None = None
    escalation: Escalation | None = None
    link: str | None = None
    follower: bool = False
    matched: str | None = None
    ask_location: bool = False
    code: str | None = None
    valid_minutes: int | None = None


_env: Environment | None = None


def _templates() -> Environment:
    global _env
    if _env is None:
        _env = Environment(
            loader=PackageLoader("services.notifier", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    return _env


def compose_email(
    notice: Notice,
    *,
    to_address: str,
    from_address: str,
    from_name: str,
    now: datetime,
    message_id: str,
    in_reply_to: str | None = None,
    references: tuple[str, ...] = (),
    reply_subaddress: bool = True,
) -> EmailMessage:
    """Build the email for `notice`: text and HTML parts, UTF-8 display names, `Date` from `now` (UTC),
    `message_id` as its Message-ID (RFC 5322 §3.6.4, ``<...@domain>``, made by the caller, e.g.
    `email.utils.make_msgid`), `In-Reply-To` the message it answers (the resident's mail, or our last
    email to them about the case) and `References` the thread (`references`, oldest first, RFC 5322
    §3.6.4; just `in_reply_to` when empty), a Reply-To that threads back to the case (`local+<case number>@domain`),
    and `Auto-Submitted: auto-replied` on automatic answers so that well-behaved responders do not answer
    them (RFC 3834 §5).

    Raises `ValueError` for an address that cannot be written in a header (e.g. a non-ASCII local
    part, RFC 6531, which our SMTP path does not offer).
    """
    try:
        return _compose(notice, to_address=to_address, from_address=from_address, from_name=from_name, now=now,
                        message_id=message_id, in_reply_to=in_reply_to, references=references,
                        reply_subaddress=reply_subaddress)
    except (email.errors.HeaderDefect, email.errors.MessageError, IndexError) as exc:
        raise ValueError(f"cannot address this email: {exc}") from exc


def _compose(notice: Notice, *, to_address: str, from_address: str, from_name: str, now: datetime,
             message_id: str, in_reply_to: str | None, references: tuple[str, ...] = (),
             reply_subaddress: bool = True) -> EmailMessage:
    # A Message-ID with a line break (or other control) is forged: answer, but do not thread to it.
    if in_reply_to and _CONTROLS.search(in_reply_to):
        in_reply_to = None
    thread = [r for r in (references or (in_reply_to,)) if r and not _CONTROLS.search(r)]
    if in_reply_to is None:
        thread = []
    lang = notice.language if notice.language in SUPPORTED_LANGUAGES else "en"
    env = _templates()
    ctx = {"n": notice}
    # One line whatever the event carried (a service name, a case number): no header injection.
    subject = " ".join(_CONTROLS.sub(" ", env.get_template(f"{lang}/subject.txt").render(ctx)).split())
    local, _, domain = from_address.partition("@")
    msg = EmailMessage()
    from_name = header_name(from_name)
    msg["From"] = Address(display_name=from_name, username=local, domain=domain)
    msg["To"] = Address(display_name=header_name(notice.display_name), addr_spec=to_address)
    if notice.kind != "escalation" and notice.service_request_id:
        # A resident's answer threads back to the case; a supervisor works the case in the workbench (an
        # answer to our address from them would be taken for a resident's report).
        reply_local = f"{local}+{notice.service_request_id}" if reply_subaddress else local
        msg["Reply-To"] = Address(display_name=from_name, username=reply_local, domain=domain)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    if notice.kind not in ("public_update", "reply"):  # RFC 3834 §5: not on what a person wrote
        msg["Auto-Submitted"] = "auto-replied" if in_reply_to else "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Content-Language"] = lang
    if notice.service_request_id:
        msg["X-Omni311-Case"] = notice.service_request_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = " ".join(thread or [in_reply_to])
    text = env.get_template(f"{lang}/{notice.kind}.txt").render(ctx)
    msg.set_content(text)
    # The HTML part escapes the same text (a resident's description may hold markup).
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]
    html = env.get_template("email.html").render(lang=lang, subject=subject, paragraphs=paragraphs, link=notice.link)
    msg.add_alternative(html, subtype="html")
    return msg
