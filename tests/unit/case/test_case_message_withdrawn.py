"""A message the resident deleted ("unsent" on Instagram or Messenger, `intake.message_withdrawn`) loses its
words on the case (issue 12, kind 6; docs/channels.md, "Every message kind kept"): its text and media, and
the case's description and media when it opened the case; a `message_withdrawn` timeline entry quoting
nothing and `case.message_withdrawn`; once per message; a withdrawal that comes first is kept and the
message, when it arrives, is held without its words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from case_fakes import FakeCaseRepository, demo
from services.case.service_layer import handlers as h
from shared.events import CaseMessageWithdrawn, CaseOpened, MessageReceived, MessageWithdrawn
from support.uow import T0, FakeStore, event

Store = FakeStore[FakeCaseRepository]
WORDS = "Pothole outside 12 Oak Ave, my number is 613-555-0123"
PHOTO = "https://media.example.test/ig/1.jpg"


@pytest.fixture
def store() -> Store:
    return FakeStore(FakeCaseRepository(), "case")


async def _consume(store: Store, payload: Any, at: int = 0) -> str | None:
    now = T0 + timedelta(minutes=at)
    return await store.handle(h.handlers(demo()), event(payload, subject="ck-ig", now=now), now=now)


def _dm(mid: str = "ig-mid-1", *, channel: str = "instagram", text: str = WORDS, **kw: Any) -> MessageReceived:
    return MessageReceived(channel=channel, channel_message_id=mid, contact_key="ck-ig", received_at=T0,
                           description=text, media_url=[PHOTO], **kw)


def _unsend(mid: str = "ig-mid-1", channel: str = "instagram") -> MessageWithdrawn:
    return MessageWithdrawn(channel=channel, channel_message_id=mid, contact_key="ck-ig", received_at=T0)


def _case(store: Store) -> dict[str, Any]:
    [case] = store.repo.cases.values()
    return case


def _message(store: Store, mid: str) -> dict[str, Any]:
    return next(m for m in store.repo.messages if m["channel_message_id"] == mid)


async def test_unsending_the_message_that_opened_a_case_empties_the_case_and_says_so(store: Store) -> None:
    assert await _consume(store, _dm()) == "opened"
    assert await _consume(store, _unsend(), at=1) == "withdrawn"
    case = _case(store)
    assert (case["description"], case["media_url"]) == ("", [])
    assert (_message(store, "ig-mid-1")["description"], _message(store, "ig-mid-1")["media_url"]) == ("", [])
    [entry] = store.repo.entries(case["case_id"], "message_withdrawn")
    assert entry["detail"]["by"] == "reporter" and entry["detail"]["opened_the_case"] is True
    assert "Oak" not in str(entry["detail"]) and "613" not in str(entry["detail"])
    [env] = store.emitted("case.message_withdrawn")
    gone = env.payload(CaseMessageWithdrawn)
    assert (gone.channel, gone.channel_message_id, gone.opened_the_case) == ("instagram", "ig-mid-1", True)
    assert gone.service_request_id == case["service_request_id"]
    assert store.repo.forgotten == [case["case_id"]]  # published payloads quoting the words are dropped


async def test_unsending_a_follow_up_removes_its_words_and_photo_only(store: Store) -> None:
    assert await _consume(store, _dm("m-1", channel="messenger", text="Pothole on Bank St")) == "opened"
    follow = _dm("m-2", channel="messenger", text="It is bigger now", in_reply_to=["m-1"])
    follow = follow.model_copy(update={"media_url": ["https://media.example.test/m/2.jpg"]})
    assert await _consume(store, follow, at=1) == "added"
    assert await _consume(store, _unsend("m-2", "messenger"), at=2) == "withdrawn"
    case = _case(store)
    assert case["description"] == "Pothole on Bank St" and case["media_url"] == [PHOTO]
    assert _message(store, "m-2")["description"] == "" and _message(store, "m-1")["description"]
    [entry] = store.repo.entries(case["case_id"], "message_withdrawn")
    assert entry["detail"]["opened_the_case"] is False


async def test_the_same_withdrawal_again_changes_nothing(store: Store) -> None:
    await _consume(store, _dm())
    await _consume(store, _unsend(), at=1)
    assert await _consume(store, _unsend(), at=2) == "already_withdrawn"  # replayed under a new event id
    assert len(store.emitted("case.message_withdrawn")) == 1
    assert len(store.repo.entries(_case(store)["case_id"], "message_withdrawn")) == 1


async def test_a_withdrawal_before_its_message_holds_the_message_without_its_words(store: Store) -> None:
    assert await _consume(store, _unsend()) == "kept_until_the_message"
    assert store.repo.cases == {} and store.emitted() == []
    assert await _consume(store, _dm(), at=1) == "opened"
    case = _case(store)
    assert (case["description"], case["media_url"]) == ("", [])
    assert store.emitted("case.opened")[0].payload(CaseOpened).description == ""
    [entry] = store.repo.entries(case["case_id"], "message_withdrawn")
    assert entry["detail"]["before_arrival"] is True
    assert len(store.emitted("case.message_withdrawn")) == 1
    assert store.repo.withdrawals[("instagram", "ig-mid-1")]["applied_at"] is not None


async def test_a_withdrawal_names_a_message_on_its_own_channel_only(store: Store) -> None:
    # Message ids are the platform's: the same id on another channel is another message, left as it is.
    assert await _consume(store, _dm("shared-id", channel="messenger")) == "opened"
    assert await _consume(store, _unsend("shared-id", "instagram"), at=1) == "kept_until_the_message"
    assert _case(store)["description"] == WORDS and store.emitted("case.message_withdrawn") == []
