"""The forwarding closed/reopened statuses: one default, used by the loader and by the case service."""

from __future__ import annotations

from types import SimpleNamespace

from shared.jurisdiction import load_jurisdiction
from shared.jurisdiction.forwarding import closed_status, reopened_status


def _status(id_: str, open311: str, notify: bool) -> SimpleNamespace:
    return SimpleNamespace(id=id_, open311=open311, notify=notify)


def test_a_configured_status_is_kept_as_given() -> None:
    workflow = load_jurisdiction("demo").workflow
    assert closed_status("closed", workflow) == "closed" and reopened_status("assigned", workflow) == "assigned"


def test_the_defaults_are_the_first_notifying_closed_status_and_resume_to() -> None:
    workflow = load_jurisdiction("demo").workflow
    assert (closed_status(None, workflow), reopened_status(None, workflow)) == ("resolved", "in_progress")
    demo = load_jurisdiction("demo").forwarding
    assert (demo.closed_status, demo.reopened_status) == ("resolved", "in_progress")


def test_the_merged_status_is_never_the_default_even_when_it_notifies() -> None:
    workflow = SimpleNamespace(merged_status="duplicate", resume_to="in_progress", statuses=[
        _status("new", "open", False), _status("duplicate", "closed", True), _status("closed", "closed", False),
        _status("resolved", "closed", True)])
    assert closed_status(None, workflow) == "resolved"  # type: ignore[arg-type]
    assert closed_status(None, SimpleNamespace(merged_status="duplicate", statuses=[])) is None  # type: ignore[arg-type]
