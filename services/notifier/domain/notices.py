"""Which notice a case lifecycle event means for one reporter. Pure.

`case.opened` → an acknowledgement with the case number; `case.merged` → the case their report now
follows (and, when that case was already closed, its closure); `case.status_changed` → `closed` or
`status_changed`, to the case's reporter and to every reporter merged into it.
"""

from __future__ import annotations

from services.notifier.domain.messages import Notice
from services.notifier.domain.model import CaseStatus, Contact, reporter_name
from shared.events import CaseMerged, CaseOpened, CaseStatusChanged


def acknowledgement(opened: CaseOpened, contact: Contact) -> Notice:
    """The acknowledgement of an opened case: the name and description of this event, the language
    of the stored contact (the first `case.opened` of the case stored it)."""
    return Notice(kind="acknowledgement", service_request_id=opened.service_request_id,
                  language=contact.language,  # type: ignore[arg-type]
                  display_name=reporter_name(opened), description=opened.description or None)


def merge_notice(merged: CaseMerged, contact: Contact) -> Notice:
    """Tells the reporter of the merged case which case (`merged_into_service_request_id`) theirs follows."""
    return Notice(kind="merged", service_request_id=merged.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  merged_into_service_request_id=merged.merged_into_service_request_id)


def late_closure(survivor: CaseStatus | None, contact: Contact) -> Notice | None:
    """The closure a reporter merged into an already-closed case still hears of; None when the
    surviving case is not closed (or no status was heard for it).

    `cases.lifecycle` is keyed by case, so the survivor's `case.status_changed` and the merged case's
    `case.merged` may arrive in either order; the notice is caused by the closing event
    (`survivor.event_id`), so that it still goes out at most once to that reporter.
    """
    if survivor is None or survivor.status != "closed":
        return None
    return Notice(kind="closed", service_request_id=survivor.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  status_notes=survivor.status_notes)


def status_notice(changed: CaseStatusChanged, contact: Contact) -> Notice:
    """A status change as told to one reporter of the case (or of a case merged into it): `closed` when
    the Open311 status is ``closed``, else `status_changed`, with the staff's notes."""
    return Notice(kind="closed" if changed.status == "closed" else "status_changed",
                  service_request_id=changed.service_request_id,
                  language=contact.language, display_name=contact.display_name,  # type: ignore[arg-type]
                  status_notes=changed.status_notes)
