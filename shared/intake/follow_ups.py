"""The case service's word on a conversation's report, asked before a follow-up is judged (docs/channels.md,
"Conversations"): whether the report's case is still open, and its service (a chat or text report carries
no service code until the router decides, so the thread alone cannot tell whether a text names "another"
service). Every conversation channel asks it the same way; `shared.intake.conversation` then decides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from shared.intake.case_api import CaseApi, CaseApiNoRoute, CaseApiRefused, CaseApiUnavailable
from shared.intake.conversation import Thread

UNANSWERED: tuple[type[Exception], ...] = (CaseApiUnavailable, CaseApiRefused, CaseApiNoRoute)
"""What the case API raises when it cannot answer (`CaseApi`'s reads)."""


async def as_its_case_says(thread: Thread, channel: str, case_api: CaseApi, *, warn: Callable[..., None],
                           unanswered: tuple[type[Exception], ...] = UNANSWERED) -> tuple[Thread, str | None]:
    """`thread` with what its case says, and the case number (None while the report is not a case yet).

    Asks `case_api.case_of_token(thread.report_id, channel)`, then `case_api.request(number)`: the thread's
    `open` is False when the case is closed, its `service_code` the case's (the thread's own when the case
    has none yet). When the report is not a case yet, or the case API raises one of `unanswered` (its own
    errors by default; intake_sms_voice passes ``(Exception,)``, Twilio does not send a webhook again), the
    thread is returned as it is (open: a follow-up lost in a new case is worse than a new problem added to
    an open one, staff can split it) and, for an error, `warn("case_api_unanswered", error=<type name>)`.
    Raises what `case_api` raises outside `unanswered`."""
    try:
        number = await case_api.case_of_token(thread.report_id, channel)
        case = await case_api.request(number) if number else None
    except unanswered as exc:
        warn("case_api_unanswered", error=type(exc).__name__)
        return thread, None
    if case is None:
        return thread, number
    return replace(thread, service_code=case.service_code or thread.service_code,
                   open=(case.status or "open").lower() != "closed"), number

