"""Case rules: numbers residents quote, finding them in text, and where a merge lands."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from services.case.domain.rules import CaseState, case_number, find_case_number, plan_merge

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_case_numbers_carry_the_jurisdiction_year_and_sequence() -> None:
    assert case_number("nyc", 2026, 42) == "NYC-26-000042"
    assert case_number("demo", 2031, 1234567) == "DEMO-31-1234567"


def test_a_case_number_is_found_in_a_reply_subject_only_for_this_jurisdiction() -> None:
    assert find_case_number("Re: [NYC-26-000042] We received your report", "nyc") == "NYC-26-000042"
    assert find_case_number("re: nyc-26-000042 still broken", "nyc") == "NYC-26-000042"
    assert find_case_number("Re: [BOSTON-26-000042]", "nyc") is None
    assert find_case_number("call 212-26-000042", "nyc") is None
    assert find_case_number(None, "nyc") is None


def _state(status: str = "open", merged_into=None) -> CaseState:  # noqa: ANN001
    return CaseState(case_id=uuid4(), status=status, merged_into=merged_into, opened_at=T0)


def test_a_merge_follows_earlier_merges_to_the_surviving_case() -> None:
    survivor = _state()
    middle = _state(status="closed", merged_into=survivor.case_id)
    new = _state()
    plan = plan_merge(new, [middle, survivor])
    assert plan.duplicate == new.case_id and plan.survivor == survivor.case_id and plan.skip_reason is None


def test_a_merge_is_skipped_with_a_reason_when_it_cannot_happen() -> None:
    a = _state()
    assert plan_merge(a, [a]).skip_reason == "a case cannot be merged into itself"
    assert plan_merge(a, [_state(status="closed")]).skip_reason == "target case no longer open"
    assert plan_merge(_state(status="closed"), [a]).skip_reason == "case no longer open"
    assert plan_merge(_state(merged_into=a.case_id), [a]).skip_reason == "case already merged"
    assert plan_merge(a, []).skip_reason == "target case not found"


def test_control_characters_are_removed_but_line_breaks_and_tabs_kept() -> None:
    from services.case.domain.rules import clean_text

    assert clean_text("pot\x00hole\x1b[31m\tdeep\r\nright lane\x7f") == "pothole[31m\tdeep\r\nright lane"


def test_the_non_characters_xml_cannot_carry_are_removed_too() -> None:
    from services.case.domain.rules import clean_text

    # U+FFFE/U+FFFF are outside XML 1.0's Char: lxml refuses them, and intake_web's Open311 XML answered 500.
    assert clean_text("pothole\ufffe on Main\uffff, café") == "pothole on Main, café"


def test_the_public_history_scrubs_contacts_from_status_notes_and_public_updates() -> None:
    from case_fakes import demo

    from services.case.domain.history import public_history

    at = datetime(2026, 3, 2, 15, tzinfo=UTC)
    case = {"service_request_id": "DEMO-26-000062", "status": "open", "workflow_status": "acknowledged",
            "status_notes": "Reach the crew at crew@example.org"}
    entries = [{"at": at, "kind": "status_changed",
                "detail": {"after": {"status_notes": "Call 613-555-0123, see DEMO-26-000061"}}},
               {"at": at, "kind": "public_update", "detail": {"text": "Mail ann@example.org"}}]

    history = public_history(case, entries, jurisdiction=demo(), followers=0, region="CA")

    assert history["status_notes"] == "Reach the crew at [email]"
    assert [e.get("status_notes") or e.get("text") for e in history["entries"]] == [
        "Call [phone], see DEMO-26-000061", "Mail [email]"]
