"""What the notifier reads of a jurisdiction's configuration: the texts its workflow tells reporters of a
status, its time zone and the region its phone numbers are read in."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from shared.jurisdiction import Jurisdiction, JurisdictionConfigError, load_jurisdiction
from shared.logs import get_logger

log = get_logger(__name__)


class WorkflowTexts:
    """The workflow status texts of the jurisdictions the notifier serves: `home` (loaded at start) and any
    other id an event names, loaded on first use with `load` (default `load_jurisdiction`, cached there).
    Raises nothing: an unknown jurisdiction or status answers None (the caller falls back to the generic
    status notice)."""

    def __init__(self, home: Jurisdiction, load: Callable[[str], Jurisdiction] = load_jurisdiction) -> None:
        self._known: dict[str, Jurisdiction | None] = {home.id: home}
        self._load = load
        self.tz = ZoneInfo(home.timezone)
        self.phone_region = home.phone_region

    def _jurisdiction(self, jurisdiction_id: str) -> Jurisdiction | None:
        if jurisdiction_id not in self._known:
            try:
                self._known[jurisdiction_id] = self._load(jurisdiction_id)
            except (JurisdictionConfigError, OSError) as exc:
                log.warning("jurisdiction_unavailable", jurisdiction_id=jurisdiction_id, error=str(exc))
                self._known[jurisdiction_id] = None
        return self._known[jurisdiction_id]

    def first_locale(self, jurisdiction_id: str) -> str:
        """The language `jurisdiction_id` writes in when a reporter's is unknown: its first locale
        (``fr`` for Montréal), English when the jurisdiction cannot be loaded."""
        jurisdiction = self._jurisdiction(jurisdiction_id)
        return jurisdiction.locales[0] if jurisdiction is not None and jurisdiction.locales else "en"

    def __call__(self, jurisdiction_id: str, status_id: str, language: str) -> str | None:
        """What the workflow of `jurisdiction_id` tells reporters of `status_id` in `language` (``en``,
        ``fr``), English when that language has none; None when the jurisdiction, the status or a text
        is missing (source: `jurisdiction.workflow.status(id).texts`, docs/staff-work.md)."""
        jurisdiction = self._jurisdiction(jurisdiction_id)
        if jurisdiction is None:
            return None
        try:
            texts = jurisdiction.workflow.status(status_id).texts
        except (LookupError, ValueError) as exc:  # the workflow's UnknownStatus is a LookupError
            log.warning("workflow_status_unknown", jurisdiction_id=jurisdiction_id, status=status_id, error=str(exc))
            return None
        return texts.get(language) or texts.get("en") or None
