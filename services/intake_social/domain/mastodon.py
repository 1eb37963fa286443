"""Mastodon mentions of the city's account → intake messages; status HTML → plain text.

A mention arrives as a notification (``type: mention``) wrapping the status. The status `content` is
Mastodon's sanitised HTML: paragraphs, ``<br>``, links whose long URLs are shortened with an
``invisible`` span (hidden) and an ``ellipsis`` span (shown, followed by "…"), mentions as h-cards
(``@<span>user</span>``) and hashtags. Media keep their URL, and their alt text goes into the
description so that staff read what the resident described. Mastodon strips EXIF, so no location.

References: Mastodon API entities Status, Notification and MediaAttachment; Mastodon's
`Formatter`/`TextFormatter` (invisible and ellipsis spans).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from services.intake_social.domain.outcomes import Ignored, Inbound, Outcome, Rejected, contact_key
from shared.events import MessageReceived, Pii

CHANNEL = "mastodon"
FUTURE_TOLERANCE = timedelta(minutes=5)
_BLOCK_TAGS = frozenset({"p", "div", "blockquote", "li", "ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5", "h6"})


class _TextParser(HTMLParser):
    """Collects the visible text of a status: drops ``invisible`` spans, marks ``ellipsis`` spans with
    "…", writes a mention as ``@acct`` (the full address when the status lists it), breaks lines at
    ``<br>`` and paragraphs."""

    def __init__(self, mention_accts: Mapping[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.mention_accts = mention_accts
        self.out: list[str] = []
        self.stack: list[tuple[str, str]] = []  # (tag, role) of open elements
        self.hidden = 0
        self.mention_depth: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = set(a.get("class", "").split())
        if tag == "br":
            self.out.append("\n")
            return
        if tag in _BLOCK_TAGS and self.out and not self.out[-1].endswith("\n\n"):
            self.out.append("\n\n")
        role = ""
        if tag == "span" and "invisible" in classes:
            role = "invisible"
            self.hidden += 1
        elif tag == "span" and "ellipsis" in classes:
            role = "ellipsis"
        elif tag == "a" and "mention" in classes and "hashtag" not in classes and self.hidden == 0:
            acct = self.mention_accts.get(a.get("href", ""))
            if acct:
                # Replace the rendered "@user" by the full address, which names the server too.
                self.out.append("@" + acct)
                role = "mention"
                self.hidden += 1
        self.stack.append((tag, role))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "br":
            return
        # Close up to the matching element (Mastodon's HTML is well formed; be lenient all the same).
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for _t, role in reversed(self.stack[i:]):
                    if role in ("invisible", "mention"):
                        self.hidden -= 1
                    elif role == "ellipsis" and self.hidden == 0:
                        self.out.append("…")
                del self.stack[i:]
                break
        if tag in _BLOCK_TAGS:
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self.hidden == 0:
            self.out.append(data)

    def text(self) -> str:
        raw = "".join(self.out).replace("\r\n", "\n")
        lines = [line.strip() for line in raw.split("\n")]
        text = "\n".join(lines)
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        return text.strip()


def html_to_text(html: str, mention_accts: Mapping[str, str] | None = None) -> str:
    """The plain text of a status's HTML `content`.

    `mention_accts` maps a mentioned account's profile URL (the link's ``href``) to its ``acct``
    (``user`` or ``user@server``), from the status's ``mentions``.
    """
    parser = _TextParser(mention_accts or {})
    parser.feed(html or "")
    parser.close()
    return parser.text()


def full_handle(account: Mapping[str, Any], instance_host: str) -> str:
    """``@user@server`` for an account: a local account's `acct` has no server, so it is taken from
    the account's profile URL, else `instance_host` (the city's server)."""
    acct = str(account.get("acct") or account.get("username") or "").lstrip("@")
    if not acct:
        raise ValueError("account without acct")
    if "@" in acct:
        return "@" + acct
    host = urlsplit(str(account.get("url") or "")).netloc or instance_host
    return f"@{acct}@{host}"


def status_text(status: Mapping[str, Any], *, own_acct: str | None = None) -> str:
    """A status as text: the content warning first, the text, then one line per media with its alt text.

    A leading mention of `own_acct` (the city's account) is dropped: it only addressed the message.
    """
    mentions = {str(m.get("url")): str(m.get("acct")) for m in status.get("mentions") or []
                if isinstance(m, Mapping) and m.get("url") and m.get("acct")}
    text = html_to_text(str(status.get("content") or ""), mentions)
    if own_acct:
        text = _drop_leading_mention(text, own_acct)
    parts = []
    if str(status.get("spoiler_text") or "").strip():
        parts.append(f"CW: {str(status['spoiler_text']).strip()}")
    if text:
        parts.append(text)
    for media in status.get("media_attachments") or []:
        if isinstance(media, Mapping) and str(media.get("description") or "").strip():
            parts.append(f"[{media.get('type') or 'media'}: {str(media['description']).strip()}]")
    return "\n\n".join(parts)


def _drop_leading_mention(text: str, own_acct: str) -> str:
    own = own_acct.lstrip("@").casefold()
    words = text.split(" ")
    while words and words[0].startswith("@") and (
            words[0][1:].casefold() == own or words[0][1:].casefold().startswith(own + "@")):
        words.pop(0)
    return " ".join(words).strip()


def media_urls(status: Mapping[str, Any]) -> list[str]:
    """The URL of every media attachment (the instance's copy, else the remote original)."""
    urls = []
    for media in status.get("media_attachments") or []:
        if not isinstance(media, Mapping):
            continue
        url = media.get("url") or media.get("remote_url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            urls.append(url)
    return urls


def message_from_status(status: Mapping[str, Any], *, own_acct: str | None, instance_host: str,
                        now: datetime) -> MessageReceived:
    """The intake message of one status that mentions the city (channel ``mastodon``).

    `channel_message_id` is the status id on the city's server (what a reply's `in_reply_to_id` names);
    the contact key and `pii.handle` come from the author's full ``@user@server``. Raises `ValueError`
    (or pydantic's ValidationError, a ValueError) for a status without id or author.
    """
    status_id = str(status.get("id") or "").strip()
    account = status.get("account")
    if not status_id or not isinstance(account, Mapping):
        raise ValueError("status without id or account")
    handle = full_handle(account, instance_host)
    reply_to = status.get("in_reply_to_id")
    return MessageReceived(
        channel=CHANNEL,
        channel_message_id=status_id,
        contact_key=contact_key(CHANNEL, handle),
        received_at=now,
        description=status_text(status, own_acct=own_acct),
        media_url=media_urls(status),
        requested_datetime=parse_created_at(status.get("created_at"), now),
        language=str(status["language"]) if status.get("language") else None,
        # The visibility tells the notifier whether the resident spoke in public; the status URL is left
        # out (it names the author, and attributes are not masked in logs).
        attributes={"visibility": str(status.get("visibility") or "public")},
        in_reply_to=[str(reply_to)] if reply_to else [],
        pii=Pii(handle=handle, name=str(account.get("display_name") or "").strip() or None),
    )


def outcome_of_notification(notification: Mapping[str, Any], *, own_acct: str | None, own_account_id: str | None,
                            instance_host: str, now: datetime) -> Outcome:
    """What one notification is: a mention becomes a message; our own status, a notification without a
    status or of another type is not one."""
    nid = str(notification.get("id") or "?")
    if notification.get("type") != "mention":
        return Ignored(CHANNEL, "not_a_mention", ref=nid)
    status = notification.get("status")
    if not isinstance(status, Mapping):
        return Rejected(CHANNEL, "mention_without_status", f"notification {nid}")
    author = status.get("account") if isinstance(status.get("account"), Mapping) else {}
    if own_account_id and str(author.get("id")) == own_account_id:
        return Ignored(CHANNEL, "own_status", ref=nid)  # the city mentioning itself, e.g. in a thread
    try:
        return Inbound(message_from_status(status, own_acct=own_acct, instance_host=instance_host, now=now))
    except ValueError as exc:
        return Rejected(CHANNEL, "invalid_status", f"notification {nid}", type(exc).__name__)


def parse_created_at(value: Any, now: datetime) -> datetime:
    """Mastodon.py gives datetimes; the raw API gives ISO 8601 text. Falls back to `now`."""
    at: datetime | None = None
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str) and value:
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            at = None
    if at is None:
        return now
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    at = at.astimezone(UTC)
    return now if at > now + FUTURE_TOLERANCE else at


def id_order(value: str) -> tuple[int, str]:
    """Sort key of Mastodon ids: numeric strings of any length (snowflakes), compared as numbers; other
    servers' fixed-length sortable ids compare as text."""
    return (len(value), value) if value.isdigit() else (0, value)
