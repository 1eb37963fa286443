"""Case numbers quoted in hostile text, and merge plans over odd chains."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from services.case.domain.rules import CaseState, case_number, find_case_number, plan_merge

CANONICAL = re.compile(r"[A-Z]{2,8}-[0-9]{2}-[0-9]{6,}")
JURISDICTION_ID = st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,20}\Z")  # config.py's id rule


def test_a_case_number_typed_with_full_width_characters_is_found_in_its_ascii_form() -> None:
    # A Japanese or Chinese input method writes digits (and often letters) full width.
    assert find_case_number("Re: NYC-２６-００００４２", "nyc") == "NYC-26-000042"
    assert find_case_number("ＮＹＣ－２６－００００４２ still broken", "nyc") == "NYC-26-000042"


def test_digits_of_other_scripts_are_not_a_case_number() -> None:
    assert find_case_number("NYC-٢٦-٠٠٠٠٤٢", "nyc") is None  # Arabic-Indic digits: not what we issue


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80), jid=st.sampled_from(["nyc", "boston", "demo"]) | JURISDICTION_ID)
def test_whatever_the_text_a_found_number_is_a_canonical_one_of_this_jurisdiction(text: str, jid: str) -> None:
    found = find_case_number(text + " NYC-２６-００００４２ ", jid)
    if found is not None:
        assert CANONICAL.fullmatch(found) and found.split("-")[0] == case_number(jid, 0, 0).split("-")[0]


@settings(max_examples=300, deadline=None)
@given(jid=JURISDICTION_ID, year=st.integers(1900, 2200), n=st.integers(1, 10**12),
       before=st.text(max_size=20), after=st.text(max_size=20))
def test_every_number_we_issue_is_found_again_in_a_reply(jid: str, year: int, n: int, before: str, after: str) -> None:
    number = case_number(jid, year, n)
    assert CANONICAL.fullmatch(number)
    assert find_case_number(f"{before} [{number}] {after}", jid) == number


def _state(n: int, status: str = "open", merged_into: int | None = None) -> CaseState:
    return CaseState(case_id=UUID(int=n), status=status, merged_into=UUID(int=merged_into) if merged_into else None,
                     opened_at=datetime(2026, 1, 1, tzinfo=UTC))


@settings(max_examples=300, deadline=None)
@given(candidate=st.tuples(st.integers(1, 4), st.sampled_from(["open", "closed"]), st.none() | st.integers(1, 4)),
       chain=st.lists(st.tuples(st.integers(1, 4), st.sampled_from(["open", "closed"]), st.none() | st.integers(1, 4)),
                      max_size=5))
def test_a_merge_never_lands_on_itself_or_on_a_closed_case(candidate, chain) -> None:  # noqa: ANN001
    plan = plan_merge(_state(*candidate), [_state(*c) for c in chain])
    if plan.skip_reason is None:
        survivor = _state(*chain[-1])
        assert plan.survivor == survivor.case_id and survivor.status == "open"
        assert plan.duplicate == UUID(int=candidate[0]) != plan.survivor
    else:
        assert plan.duplicate is None and plan.survivor is None
