"""`shared.media.with_our_media`: the one loop every channel runs to replace a message's provider links by
our copies, each channel stating what a non-media error does (docs/channels.md, "Media kept by us")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.events import MessageReceived
from shared.media import MediaRefused, MediaUnavailable, with_our_media

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def message(*urls: str) -> MessageReceived:
    return MessageReceived(channel="sms", channel_message_id="SM1", contact_key="ck", received_at=NOW,
                           media_url=list(urls), attributes={"conversation": "follow_up"})


class Keeper:
    """Our URL for each link; refuses, fails or breaks the ones named."""

    def __init__(self, **errors: Exception) -> None:
        self.errors = errors
        self.asked: list[str] = []

    async def __call__(self, url: str) -> str:
        self.asked.append(url)
        if url in self.errors:
            raise self.errors[url]
        return f"https://ours/media/{len(self.asked)}"


class Warnings(list[tuple[str, dict[str, Any]]]):
    def __call__(self, event: str, **fields: Any) -> None:
        self.append((event, fields))


async def test_every_link_kept_is_replaced_in_order_and_nothing_failed() -> None:
    keep, warn = Keeper(), Warnings()
    out = await with_our_media(message("a", "b"), keep, warn=warn)
    assert out.media_url == ["https://ours/media/1", "https://ours/media/2"]
    assert out.attributes == {"conversation": "follow_up"} and warn == []


async def test_a_refused_or_unavailable_file_keeps_its_link_with_its_reason_in_order() -> None:
    keep, warn = Keeper(b=MediaRefused("too large"), c=MediaUnavailable("answered 404")), Warnings()
    out = await with_our_media(message("a", "b", "c"), keep, warn=warn)
    assert out.media_url == ["https://ours/media/1", "b", "c"]
    assert out.attributes["media_failed"] == ["too large", "answered 404"]
    assert out.attributes["conversation"] == "follow_up"
    assert warn == [("media_not_kept", {"channel": "sms", "reason": "too large"}),
                    ("media_not_kept", {"channel": "sms", "reason": "answered 404"})]


async def test_a_skipped_link_is_neither_fetched_nor_failed() -> None:
    keep = Keeper()
    out = await with_our_media(message("card", "a"), keep, warn=Warnings(), skip=lambda url: url == "card")
    assert out.media_url == ["card", "https://ours/media/1"] and keep.asked == ["a"]
    assert "media_failed" not in out.attributes


async def test_another_error_propagates_unless_the_channel_keeps_the_link_on_it() -> None:
    with pytest.raises(ConnectionError):  # intake_social: the webhook answers 503, Meta sends again
        await with_our_media(message("a"), Keeper(a=ConnectionError("db")), warn=Warnings())
    out = await with_our_media(message("a"), Keeper(a=ConnectionError("db")), warn=Warnings(),
                               keep_link_on=(Exception,))  # intake_sms_voice: the text goes on
    assert out.media_url == ["a"] and out.attributes["media_failed"] == ["not stored (ConnectionError)"]


async def test_a_message_without_media_is_returned_as_it_is() -> None:
    msg = message()
    keep = Keeper()
    assert await with_our_media(msg, keep, warn=Warnings()) is msg and keep.asked == []
