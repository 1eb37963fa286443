"""Follow-ups join the open report (`shared.intake.conversation`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.intake.conversation import Thread, asks_for_new_report, follow_up_of, is_thanks, services_named
from shared.jurisdiction import load_jurisdiction

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DEMO = load_jurisdiction("demo")
KEYWORDS = [(s.service_code, k.text) for s in DEMO.services for words in s.keywords.values() for k in words]
POTHOLE = next(code for code, phrase in KEYWORDS if phrase.casefold() == "pothole")


def names(text: str) -> set[str]:
    return services_named(text, KEYWORDS)


def decide(text: str, *, thread: Thread | None = None, minutes_ago: float = 5, has_place: bool = False) -> str:
    thread = thread if thread is not None else Thread("SM1", NOW - timedelta(minutes=minutes_ago), POTHOLE)
    return follow_up_of(text, thread=thread, now=NOW, window_s=4 * 3600, names_service=names, has_place=has_place).kind


@pytest.mark.parametrize("text", ["ok thanks", "Thank you!", "merci 🙏", "👍", "👍🏽", "OK", "Gracias.", "thx!!"])
def test_a_bare_thanks_is_recorded_without_a_reply(text: str) -> None:
    assert is_thanks(text)
    assert decide(text) == "thanks"


@pytest.mark.parametrize("text", ["it's getting bigger, a car lost a tyre in it", "Still there this morning",
                                  "ok it is near the bus stop", "thanks, it is also leaking"])
def test_more_about_the_same_problem_joins_the_case(text: str) -> None:
    assert not is_thanks(text)
    assert decide(text) == "join"


def test_after_the_window_or_on_a_closed_case_a_text_opens_a_new_case() -> None:
    assert decide("still there", minutes_ago=4 * 60 + 1) == "new"
    assert decide("still there", thread=Thread("SM1", NOW, POTHOLE, open=False)) == "new"
    assert follow_up_of("still there", thread=None, now=NOW, window_s=60, names_service=names,
                        has_place=False).kind == "new"


@pytest.mark.parametrize("text", ["NEW streetlight out at 12 Elm St", "new: graffiti on the bridge",
                                  "Nouveau nid-de-poule rue Elgin"])
def test_the_resident_can_ask_for_a_new_case_and_the_word_is_dropped(text: str) -> None:
    asked, rest = asks_for_new_report(text)
    assert asked and not rest.lower().startswith(("new", "nouveau"))
    assert follow_up_of(text, thread=Thread("SM1", NOW, POTHOLE), now=NOW, window_s=3600, names_service=names,
                        has_place=False).text == rest.strip()


def test_new_alone_is_not_a_request_for_a_new_case() -> None:
    assert asks_for_new_report("new") == (False, "new")
    assert decide("New") == "join"


def test_another_problem_at_another_place_opens_its_own_case() -> None:
    other = next(code for code, phrase in KEYWORDS if code != POTHOLE)
    phrase = next(p for c, p in KEYWORDS if c == other)
    assert decide(f"also {phrase} at 5th Ave and Elm St", has_place=True) == "new"
    assert decide(f"also {phrase} here", has_place=False) == "join"  # no place of its own: same report
    assert decide("the pothole is at 5th Ave and Elm St actually", has_place=True) == "join"


@pytest.mark.parametrize("text", ["new york is flooding", "New York Ave has a pothole too", "new-york pizza boxes everywhere",
                                  "New Edinburgh park is flooded", "Nouveau-Brunswick plates on an abandoned car",
                                  "nouvelle orléans jazz too loud at night", "NEW York Ave has a pothole"])
def test_a_place_named_new_something_is_not_a_request_and_keeps_its_words(text: str) -> None:
    assert asks_for_new_report(text) == (False, text)
    decision = follow_up_of(text, thread=Thread("SM1", NOW, POTHOLE), now=NOW, window_s=3600, names_service=names,
                            has_place=False)
    assert decision.text == text


@pytest.mark.parametrize(("text", "rest"), [("NEW pothole on Elm St", "pothole on Elm St"),
                                            ("new pothole at 12 Main St", "pothole at 12 Main St"),
                                            ("New: York Ave has a pothole", "York Ave has a pothole"),
                                            ("NEW - graffiti", "graffiti"), ("Nueva queja: basura", "queja: basura")])
def test_a_request_for_a_new_case_is_still_read(text: str, rest: str) -> None:
    assert asks_for_new_report(text) == (True, rest)
